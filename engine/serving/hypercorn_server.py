"""Hypercorn, Patchbay's default server (the only module that imports it).

`hypercorn engine.asgi:app` also works, with Hypercorn's own options; `hypercorn_config`
gives the settings `patchbay serve` uses.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Sequence
from email.utils import formatdate

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app

from engine.config.settings import Settings
from engine.observe.logs import server_logger
from engine.serving.servers import ASGIApp

# Past the graceful timeout, Patchbay ends what still runs itself (worker.py); Hypercorn
# cancels what is left only this much later.
HARD_STOP_MARGIN = 2.0


class ServerConfig(Config):
    """Hypercorn's config, with the Date header (RFC 9110 asks it of a server with a
    clock) formatted once a second instead of once per answer, for every answer
    Hypercorn writes: Patchbay's, the pages' and Hypercorn's own errors."""

    include_date_header = False  # added below, from the per-second value
    include_server_header = False  # no software banner; one header less per answer
    _date_second = -1
    _date = b""

    def response_headers(self, protocol: str) -> list[tuple[bytes, bytes]]:
        second = int(time.time())
        if second != self._date_second:
            self._date_second = second
            self._date = formatdate(second, usegmt=True).encode("ascii")
        headers: list[tuple[bytes, bytes]] = super().response_headers(protocol)
        return [(b"date", self._date), *headers]


def hypercorn_config(settings: Settings) -> ServerConfig:
    config = ServerConfig()
    config.application_path = "engine.asgi:app"
    config.bind = [f"{settings.host}:{settings.port}"]
    config.graceful_timeout = settings.graceful_timeout + HARD_STOP_MARGIN
    # Hypercorn also holds a connection the client has closed until this runs out
    # (CLOSE-WAIT, with its task): a long value costs a file descriptor per closed
    # connection for that long.
    config.keep_alive_timeout = settings.keep_alive_timeout
    config.loglevel = settings.log_level.upper()
    config.accesslog = None  # Patchbay logs requests itself (request_logging)
    config.errorlog = server_logger()  # its lines in the same format as Patchbay's
    return config


class HypercornServing:
    def __init__(self, app: ASGIApp, sockets: Sequence[socket.socket], settings: Settings) -> None:
        self._app = app
        self._sockets = Sockets([], list(sockets), [])
        self._config = hypercorn_config(settings)
        self._stopped = asyncio.Event()

    async def serve(self) -> None:
        app = wrap_app(self._app, self._config.wsgi_max_body_size, "asgi")
        await worker_serve(
            app, self._config, sockets=self._sockets, shutdown_trigger=self._stopped.wait
        )

    def stop(self) -> None:
        # Hypercorn closes its listeners as soon as the trigger returns.
        self._stopped.set()


def serving(app: ASGIApp, sockets: Sequence[socket.socket], settings: Settings) -> HypercornServing:
    return HypercornServing(app, sockets, settings)
