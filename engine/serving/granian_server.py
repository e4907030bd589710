"""Granian (the only module that imports it), embedded in the worker's event loop.

Granian's own process manager restarts every worker on SIGHUP and keeps the socket
open in its parent after SIGTERM; Patchbay's supervisor does neither, so each worker
runs Granian's embedded server on the socket the supervisor bound.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence

from granian._granian import SocketHolder
from granian.constants import HTTPModes, Interfaces, TaskImpl
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server.embed import Server

from engine.config.settings import Settings
from engine.serving.listen import BACKLOG
from engine.serving.servers import ASGIApp, log_like_patchbay

# Granian says this of its embedded server on every start; Patchbay's tests cover it.
_EXPERIMENTAL = "Embedded server is experimental!"


class _Quiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _EXPERIMENTAL


class _Server(Server):
    """Granian's embedded server on a socket bound beforehand."""

    def __init__(self, app: ASGIApp, sock: socket.socket, settings: Settings) -> None:
        super().__init__(
            app,
            interface=Interfaces.ASGI,  # with the lifespan: start-up and shutdown run
            http=HTTPModes.http1,
            websockets=False,
            task_impl=TaskImpl.asyncio,  # each request a Task: cancellable like the others
            # Granian also takes this as the most requests one worker serves at a time.
            backlog=BACKLOG,
            # Granian's only idle timeout: it also bounds how long a client may take to
            # send a request's headers.
            http1_settings=HTTP1Settings(
                header_read_timeout=max(1, round(settings.keep_alive_timeout * 1000))
            ),
            log_level=LogLevels(settings.log_level),
        )
        self._sock = sock

    def _init_shared_socket(self) -> None:
        # Granian owns the descriptor from here and closes it when it stops.
        holder = SocketHolder(self._sock.detach(), False, BACKLOG)  # type: ignore[call-arg]
        self._ssp = None
        self._shd = holder  # type: ignore[assignment]
        self._sfd = holder.get_fd()


class GranianServing:
    def __init__(self, app: ASGIApp, sockets: Sequence[socket.socket], settings: Settings) -> None:
        (sock,) = sockets
        self._server = _Server(app, sock, settings)
        log_like_patchbay("_granian", settings.log_level)
        logging.getLogger("_granian").addFilter(_Quiet())

    async def serve(self) -> None:
        await self._server.serve()

    def stop(self) -> None:
        self._server.stop()  # type: ignore[no-untyped-call]


def serving(app: ASGIApp, sockets: Sequence[socket.socket], settings: Settings) -> GranianServing:
    return GranianServing(app, sockets, settings)
