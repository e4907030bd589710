"""Watch the config directory (not single files) and ask the Reloader to re-read.

Watching the directory sees atomic-rename saves, editors' backup dances and the
Kubernetes `..data` symlink swap alike. Any event triggers a re-read; the content hash
decides whether anything changed. A slow periodic re-read is the safety net, and the
watcher outlives its own errors and the directory vanishing and coming back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import watchfiles

if TYPE_CHECKING:
    from engine.reload import Reloader

log = logging.getLogger("patchbay.watch")

IGNORED_DIRS = frozenset(
    {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
)
RETRY_DELAY = 0.5  # seconds before re-arming a watcher that failed or lost its directory


def _relevant(state_dir: Path) -> watchfiles.BaseFilter:
    class ConfigFilter(watchfiles.BaseFilter):
        def __call__(self, change: watchfiles.Change, path: str) -> bool:
            candidate = Path(path)
            if candidate == state_dir or state_dir in candidate.parents:
                return False
            return not IGNORED_DIRS.intersection(candidate.parts)

    return ConfigFilter()


async def watch_directory(reloader: Reloader, stop: asyncio.Event) -> None:
    """Run until `stop`: file events and the periodic re-read both lead to `reload()`."""
    safety_net = asyncio.ensure_future(_periodic(reloader, stop))
    try:
        while not stop.is_set():
            await _follow(reloader, stop)
            if not stop.is_set():
                await _sleep_or_stop(stop, RETRY_DELAY)
    finally:
        safety_net.cancel()


async def _follow(reloader: Reloader, stop: asyncio.Event) -> None:
    """One watcher lifetime: ends when the directory vanishes or the watcher fails."""
    directory = reloader.directory
    if not directory.is_dir():
        return
    watch = reloader.snapshot.settings.watch
    state_dir = (directory / reloader.snapshot.settings.state_dir).resolve()
    # A re-read after (re)arming catches anything that happened while no watcher ran.
    await reloader.reload()
    try:
        async for changes in watchfiles.awatch(
            directory,
            watch_filter=_relevant(state_dir),
            stop_event=stop,
            force_polling=watch.polling,
            poll_delay_ms=100,
            debounce=50,
            step=20,
            rust_timeout=1000,
            yield_on_timeout=True,
        ):
            if not directory.is_dir():
                log.warning("config directory %s vanished; waiting for it", directory)
                return
            if changes:
                await reloader.reload()
            if reloader.snapshot.settings.watch != watch:
                return  # re-arm with the new watch settings (e.g. polling switched on)
    except (OSError, RuntimeError) as exc:
        log.warning("watcher on %s failed (%s); re-arming", directory, exc)


async def _periodic(reloader: Reloader, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await _sleep_or_stop(stop, reloader.snapshot.settings.watch.interval)
        if not stop.is_set() and reloader.directory.is_dir():
            await reloader.reload()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
