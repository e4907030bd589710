"""The listening socket: bound once, before any worker starts, and shared by all of them.

One socket for every worker means a worker that dies loses no queued connection (the
others accept from the same queue), and a shutdown that closes every copy refuses new
connections at once. When the address cannot be had, ListenError says so in one line.
"""

from __future__ import annotations

import errno
import socket

BACKLOG = 1024  # connections the kernel queues while every worker is busy

_WHY = {
    errno.EADDRINUSE: "the address is already in use (is Patchbay or another server running?);"
    " stop it or choose another port",
    errno.EACCES: "permission denied (ports below 1024 need privileges); choose a port above 1023",
    errno.EADDRNOTAVAIL: "this machine has no such address; choose another host",
}


class ListenError(Exception):
    """The address could not be bound; the message is one line naming it and what to do."""


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on host:port (IPv6 when the host has a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
    except socket.gaierror as exc:
        raise ListenError(
            f"cannot listen on {host}:{port}: unknown host ({exc.strerror})"
        ) from None
    except OSError as exc:
        why = _WHY.get(exc.errno or 0, exc.strerror or str(exc))
        raise ListenError(
            f"cannot listen on {_address(host, port)}: {why}"
            " (--host/--port, PATCHBAY_HOST/PATCHBAY_PORT or config/server.yaml)"
        ) from None
    return sock


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
