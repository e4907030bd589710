"""The long-lived parts of one worker: the snapshot holder, the upstream client, handlers.

The Runtime is what handlers know as `Services` (engine/http/messages.py) and, through
`live`, as `LiveConfig`; it starts the watcher and discovery and stops them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from engine.access.guard import Guard
from engine.access.limits import Limiter
from engine.config.settings import check_given_settings
from engine.handlers import OPERATIONS, UPLOADS, WIRE_FORMATS, handler_table
from engine.http.deadlines import Deadlines
from engine.http.drain import Drain
from engine.http.messages import Handler, LiveConfig
from engine.live.discovery import Discovery
from engine.live.reload import Reloader
from engine.live.watch import watch_directory
from engine.observe.cells import FOLD_SECONDS
from engine.observe.logs import redact_logs
from engine.observe.metrics import Metrics
from engine.observe.telemetry import Tracing
from engine.snapshot.model import Snapshot
from engine.stores.shared import SharedState
from engine.stores.traffic import Traffic
from engine.upstream.client import Upstream

log = logging.getLogger("patchbay")


class Runtime:
    """Built at app creation (config errors surface then); started and stopped by the app."""

    def __init__(
        self, directory: Path, *, environ: Mapping[str, str], overrides: Mapping[str, Any]
    ) -> None:
        check_given_settings(environ, overrides)  # a bad PATCHBAY_* value is not a config error
        self.reloader = Reloader(
            directory, handlers=WIRE_FORMATS, environ=environ, overrides=overrides
        )
        self.upstream = Upstream(lambda: self.snapshot.settings.max_response_size)
        self.discovery = Discovery(self.reloader, self.upstream)
        self.handlers: Mapping[str, Handler] = handler_table()
        self.uploads = UPLOADS  # handlers whose body is spooled to a file (engine/http/uploads.py)
        self.deadlines = Deadlines()  # request_timeout and the dispatch deadline
        self.state = SharedState()  # counters and cooldowns: memory, or Redis at redis_url
        self.traffic = Traffic()  # what the routing strategies count in this worker
        self.guard = Guard(Limiter(self.state))  # client keys and rate limits
        self.drain = Drain()  # requests in flight, for the end of a graceful shutdown
        self.metrics = Metrics()
        self.tracing = Tracing(OPERATIONS)  # OpenTelemetry spans while `telemetry` is set
        self.reloader.followers.append(self._follow)
        self.live: LiveConfig = _Live(self.reloader, self.discovery)
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unredact: Callable[[], None] = lambda: None  # set while the app runs

    @property
    def snapshot(self) -> Snapshot:
        return self.reloader.snapshot

    async def start(self) -> None:
        self._stop = asyncio.Event()
        self._unredact = redact_logs(lambda: self.snapshot.redact)
        await self.upstream.start()
        self._follow(self.snapshot)  # here, in the worker: the exporter runs a thread
        self._spawn(self.discovery.run(self._stop))
        self._spawn(watch_directory(self.reloader, self._stop))  # idles while watch is off
        if self.metrics.multiprocess:  # the other workers' scrapes read this one's files
            self._spawn(self._fold_metrics())
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

    async def _fold_metrics(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), FOLD_SECONDS)
            self.metrics.fold()

    def _follow(self, snapshot: Snapshot) -> None:
        self.tracing.follow(snapshot.settings.telemetry, _addresses(snapshot), snapshot.redact)

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
        self.metrics.fold()
        await self.upstream.close()
        await self.state.close()
        await self.tracing.close()  # flushes the spans not yet exported
        self._unredact()
        self._unredact = lambda: None


class _Live:
    """LiveConfig over this worker's reloader and discovery."""

    def __init__(self, reloader: Reloader, discovery: Discovery) -> None:
        self._reloader = reloader
        self._discovery = discovery

    @property
    def snapshot(self) -> Snapshot:
        return self._reloader.snapshot

    @property
    def environ(self) -> Mapping[str, str]:
        return self._reloader.environ

    def status(self) -> dict[str, Any]:
        return self._reloader.describe()

    async def reload(self) -> str:
        return await self._reloader.reload(force=True)

    def reload_counts(self) -> Mapping[str, int]:
        return self._reloader.status.reloads

    def reload_history(self) -> list[dict[str, Any]]:
        return self._reloader.history.entries(self._reloader.snapshot.redact)

    def discovery_error(self, provider: str) -> str | None:
        return self._discovery.errors.get(provider)


def _addresses(snapshot: Snapshot) -> dict[str, tuple[str, int | None]]:
    """Each provider's upstream host and port, as its attempts' spans name them."""
    found = {}
    for name, provider in snapshot.providers.items():
        parts = urlsplit(provider.base_url)
        if parts.hostname:
            found[name] = (snapshot.redact(parts.hostname), _port(parts))
    return found


def _port(parts: SplitResult) -> int | None:
    try:
        return parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # not a port number: the upstream call says so
        return None
