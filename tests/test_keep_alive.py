"""Client connections: kept for keep_alive_timeout when idle, and no longer than that
once the client has closed its side (the server holds such a connection, its socket
and its task until the timeout runs out)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.harness import gateway, write_config

ECHO = {"defaults": {"provider": "echo"}, "providers": {"echo": {"kind": "echo", "models": ["e"]}}}
REQUEST = b"GET /health HTTP/1.1\r\nHost: patchbay\r\n\r\n"


def _answered(url: str) -> socket.socket:
    """A connection that has had one answer and is now idle."""
    host, port = urlsplit(url).netloc.split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(REQUEST)
    answer = b""
    while b'"ok"' not in answer:
        answer += sock.recv(65536)
    return sock


def _seconds_until_closed(sock: socket.socket) -> float:
    """How long until the server closes its side (recv sees the end)."""
    started = time.monotonic()
    while sock.recv(65536):
        pass
    return time.monotonic() - started


def test_an_idle_connection_is_closed_after_keep_alive_timeout(tmp_path: Path) -> None:
    write_config(tmp_path / "cfg", ECHO, server={"keep_alive_timeout": 1})
    with gateway(tmp_path / "cfg") as url, _answered(url) as sock:
        assert 0.5 < _seconds_until_closed(sock) < 5


def test_a_connection_the_client_closed_is_let_go_within_the_default_timeout(
    tmp_path: Path,
) -> None:
    """With the default (5 s), not the 75 s that once kept every closed connection's
    socket in CLOSE-WAIT: at 20 new connections a second, 1,500 sockets."""
    write_config(tmp_path / "cfg", ECHO)
    with gateway(tmp_path / "cfg") as url, _answered(url) as sock:
        sock.shutdown(socket.SHUT_WR)  # the client is done: it sends its FIN
        assert _seconds_until_closed(sock) < 8
