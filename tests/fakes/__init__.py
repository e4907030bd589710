"""Fake upstreams: real aiohttp servers on 127.0.0.1 that speak a provider's wire format.

`FakeUpstream` is the shared lifecycle: start on port 0 (in the running loop, or in a
thread of its own for synchronous clients), expose `.url`, and record every request.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Self

import orjson
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Received:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    peer: tuple[str, int] | None = None  # the client's address: which connection carried it

    def json(self) -> Any:
        return orjson.loads(self.body)


class FakeUpstream:
    """Base of the fakes: subclasses add routes in `setup(app)`; `prefix` ends `.url`."""

    prefix = ""
    client_max_size = 1024**2  # aiohttp's default limit on a request body it reads

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def setup(self, app: web.Application) -> None:
        raise NotImplementedError

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.requests.append(
            Received(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                body,
                tuple(peer) if peer else None,
            )
        )
        return await handler(request)

    async def start(self) -> Self:
        app = web.Application(middlewares=[self._record], client_max_size=self.client_max_size)
        self.setup(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @contextmanager
    def in_thread(self) -> Iterator[Self]:
        """Serve from a loop in a background thread, for tests whose client is synchronous."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=10)
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.close(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
