"""What every answer carries (one Date, a request id) and what upstream calls never do."""

from __future__ import annotations

import email.utils
import http.client
import json
import socket
import time
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from engine.upstream.client import Upstream
from tests.harness import gateway, write_config

ECHO = {"defaults": {"provider": "echo"}, "providers": {"echo": {"kind": "echo", "models": ["e"]}}}
CHAT = {"model": "echo/e", "messages": [{"role": "user", "content": "hi"}]}


def _ask(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Message:
    """The headers of one answer, read whole (repeated headers stay repeated)."""
    connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=10)
    try:
        data = None if body is None else json.dumps(body)
        connection.request(method, path, data, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.headers
    finally:
        connection.close()


def _one_recent_date(headers: Message) -> None:
    dates = headers.get_all("date") or []
    assert len(dates) == 1, dates
    sent = email.utils.parsedate_to_datetime(dates[0])
    assert sent.tzinfo is not None
    assert abs((datetime.now(UTC) - sent).total_seconds()) < 5


def test_every_answer_has_one_date_and_a_request_id(tmp_path: Path) -> None:
    write_config(tmp_path / "cfg", ECHO)
    with gateway(tmp_path / "cfg") as url:
        answers = [
            _ask(url, "GET", "/v1/models"),  # a route, JSON
            _ask(url, "POST", "/v1/chat/completions", {**CHAT, "stream": True}),  # a stream
            _ask(url, "POST", "/v1/chat/completions", {"messages": []}),  # an error
            _ask(url, "GET", "/"),  # a page, served behind the front door
            _ask(url, "GET", "/no/such/page"),  # nothing matches
        ]
    ids = set()
    for headers in answers:
        _one_recent_date(headers)
        ids.add(headers["x-request-id"])
    assert len(ids) == len(answers)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_the_servers_own_error_answers_carry_a_date_too(tmp_path: Path) -> None:
    """A request Hypercorn rejects before any app code runs (a malformed request line)."""
    write_config(tmp_path / "cfg", ECHO)
    with gateway(tmp_path / "cfg") as url:
        host, port = urlsplit(url).netloc.split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"NOT A REQUEST\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
    head = email.message_from_bytes(answer.split(b"\r\n", 1)[1])
    assert answer.startswith(b"HTTP/1.1 400")
    _one_recent_date(head)


def test_the_date_follows_the_clock(tmp_path: Path) -> None:
    write_config(tmp_path / "cfg", ECHO)
    with gateway(tmp_path / "cfg") as url:
        first = _ask(url, "GET", "/v1/models")["date"]
        time.sleep(1.1)
        second = _ask(url, "GET", "/v1/models")["date"]
    assert email.utils.parsedate_to_datetime(second) > email.utils.parsedate_to_datetime(first)


@pytest.mark.anyio
async def test_a_cookie_an_upstream_sets_is_never_sent_back(upstream: Upstream) -> None:
    """Upstream calls are made for many clients: one answer's cookie must not ride along."""
    seen: list[str | None] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie("session", "client-a", path="/")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", answer)
    async with TestServer(app, host="127.0.0.1") as server:
        # A host name, not an IP address: cookie jars keep cookies only for names.
        url = f"http://localhost:{server.port}/v1/chat/completions"
        for _ in range(2):
            resp = await upstream.open("POST", url, provider="p", headers={}, body=b"{}", timeout=5)
            assert await resp.json() == {"ok": True}
    assert seen == [None, None]
