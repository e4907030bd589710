"""The long-lived parts of one worker: the snapshot holder, the upstream client, handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any

from engine.access.guard import Guard
from engine.access.limits import Limiter
from engine.config.settings import check_given_settings
from engine.handlers import handler_table
from engine.http.deadlines import Deadlines
from engine.http.drain import Drain
from engine.http.messages import Handler
from engine.live.discovery import Discovery
from engine.live.reload import Reloader
from engine.observe.metrics import Metrics
from engine.routing.strategies import Routing
from engine.snapshot.model import Snapshot
from engine.upstream.client import Upstream

log = logging.getLogger("patchbay")


class Runtime:
    """Built at app creation (config errors surface then); started and stopped by the app."""

    def __init__(
        self, directory: Path, *, environ: Mapping[str, str], overrides: Mapping[str, Any]
    ) -> None:
        check_given_settings(environ, overrides)  # a bad PATCHBAY_* value is not a config error
        self.reloader = Reloader(directory, environ=environ, overrides=overrides)
        self.upstream = Upstream()
        self.discovery = Discovery(self.reloader, self.upstream)
        self.routing = Routing()
        self.handlers: Mapping[str, Handler] = handler_table()
        self.deadlines = Deadlines()  # request_timeout and the dispatch deadline
        self.drain = Drain()  # requests in flight, for the end of a graceful shutdown
        self.guard = Guard(Limiter())  # client keys and rate limits
        self.metrics = Metrics()
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def snapshot(self) -> Snapshot:
        return self.reloader.snapshot

    async def start(self) -> None:
        self._stop = asyncio.Event()
        await self.upstream.start()
        self._spawn(self.discovery.run(self._stop))
        self._spawn(self.reloader.watch(self._stop))  # idles while watch.enabled is false
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            # SIGHUP re-reads the config in this worker without restarting it.
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background; it is forgotten when done, and never dies silently."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_coro(), exc_info=task.exception())

    def _on_sighup(self) -> None:
        log.info("SIGHUP: re-reading the config")
        self._spawn(self._reload_forced())

    async def _reload_forced(self) -> None:
        await self.reloader.reload(force=True)

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._tasks.clear()
        await self.upstream.close()
        await self.guard.close()
        await self.routing.close()
