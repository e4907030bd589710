"""uvicorn (the only module that imports it), on uvloop and httptools when installed."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Sequence

import uvicorn

from engine.config.settings import Settings
from engine.serving.servers import ASGIApp, log_like_patchbay

HARD_STOP_MARGIN = 2.0  # see hypercorn_server.py


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the worker decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class UvicornServing:
    def __init__(self, app: ASGIApp, sockets: Sequence[socket.socket], settings: Settings) -> None:
        config = uvicorn.Config(
            app,
            loop="none",  # the worker's loop (uvloop when installed)
            http="auto",  # httptools when installed, else h11
            lifespan="on",
            log_config=None,
            log_level=settings.log_level,
            access_log=False,  # Patchbay logs requests itself (request_logging)
            server_header=False,
            timeout_keep_alive=settings.keep_alive_timeout,  # type: ignore[arg-type]
            timeout_graceful_shutdown=int(settings.graceful_timeout + HARD_STOP_MARGIN),
        )
        log_like_patchbay("uvicorn", settings.log_level)
        self._server = _Server(config)
        self._sockets = list(sockets)

    async def serve(self) -> None:
        await self._server.serve(sockets=self._sockets)

    def stop(self) -> None:
        self._server.should_exit = True
        # uvicorn looks at should_exit ten times a second; the listeners close now.
        for server in getattr(self._server, "servers", []):
            server.close()


def serving(app: ASGIApp, sockets: Sequence[socket.socket], settings: Settings) -> UvicornServing:
    return UvicornServing(app, sockets, settings)
