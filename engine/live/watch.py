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
import os
import stat
from collections.abc import AsyncGenerator
from pathlib import Path

import watchfiles

from engine.config import FRAGMENT_DIRS
from engine.live.reload import Reloader, fingerprint

log = logging.getLogger("patchbay.watch")

# A save is seen STEP_MS after its last event (at most DEBOUNCE_MS after its first):
# long enough to take an editor's write-rename-delete dance as one change, short
# enough to apply in well under a quarter of a second.
STEP_MS = 20
DEBOUNCE_MS = 60
# An edit applies once the files read the same across SETTLE seconds: a file written in
# place (truncate, then write, perhaps in parts) is half there in between, and half a
# file may well parse. A writer that pauses longer than this mid-file is not covered.
SETTLE = 0.1
POLL_DELAY = 0.1  # seconds between content checks in polling mode
RETRY_DELAY = 0.5  # seconds before re-arming after a failure or while the directory is gone
IDLE_CHECK_MS = 1000  # the watcher wakes this often to notice the directory being replaced


async def watch_directory(reloader: Reloader, stop: asyncio.Event) -> None:
    """Run until `stop`: file events and the periodic re-read both lead to `reload()`.

    `watch.enabled` and `watch.polling` are followed live, like every other setting.
    """
    safety_net = asyncio.create_task(_periodic(reloader, stop))
    try:
        while not stop.is_set():
            if not reloader.snapshot.settings.watch.enabled:
                # Switched off: SIGHUP or /admin/reload still re-read, and may switch it on.
                await _sleep_or_stop(stop, RETRY_DELAY)
            elif reloader.snapshot.settings.watch.polling:
                await _poll(reloader, stop)
            else:
                await _follow(reloader, stop)
    finally:
        safety_net.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await safety_net


async def _follow(reloader: Reloader, stop: asyncio.Event) -> None:
    """One inotify watcher lifetime.

    It ends when a watched directory is deleted, replaced or appears (a watch on a
    deleted directory would never fire again), when the watch settings change, or
    when the watcher fails.
    """
    directory = reloader.directory
    armed = _identity(directory)
    if armed[0] is None:
        await _sleep_or_stop(stop, RETRY_DELAY)
        return
    paths = [path for path, ident in zip(_watched(directory), armed, strict=True) if ident]
    watch = reloader.snapshot.settings.watch
    await settled_reload(reloader, stop)  # catches what happened while no watcher ran
    caught_up = False
    try:
        events = _events(paths, directory / reloader.snapshot.settings.state_dir, stop)
        async with contextlib.aclosing(events):
            async for changes in events:
                if changes or not caught_up:
                    # The first wake-up (an event, or at most IDLE_CHECK_MS) also covers
                    # edits made while the watcher was being set up.
                    await settled_reload(reloader, stop)
                    caught_up = True
                if reloader.snapshot.settings.watch != watch or _replaced(changes, paths, armed):
                    return
    except (OSError, RuntimeError) as exc:
        log.warning("watcher on %s failed (%s); re-arming", directory, exc)
        await _sleep_or_stop(stop, RETRY_DELAY)


def _events(
    paths: list[Path], state_dir: Path, stop: asyncio.Event
) -> AsyncGenerator[set[tuple[watchfiles.Change, str]], None]:
    return watchfiles.awatch(
        *paths,
        watch_filter=_outside(state_dir.resolve()),
        stop_event=stop,
        recursive=False,  # config/ and the *.d/ folders are watched on their own; never a tree
        debounce=DEBOUNCE_MS,
        step=STEP_MS,
        rust_timeout=IDLE_CHECK_MS,
        yield_on_timeout=True,
    )


def _replaced(
    changes: set[tuple[watchfiles.Change, str]],
    paths: list[Path],
    armed: tuple[tuple[int, int] | None, ...],
) -> bool:
    """Whether a watched directory was deleted, replaced or created since arming."""
    roots = {str(path) for path in paths}
    # A new directory may reuse the old one's inode: only its deletion event tells.
    if any(change == watchfiles.Change.deleted and path in roots for change, path in changes):
        return True
    return _identity(paths[0]) != armed


async def _poll(reloader: Reloader, stop: asyncio.Event) -> None:
    """Polling mode: read the config files every POLL_DELAY and reload when they differ.

    The files themselves are compared, not their timestamps: notify's poller keeps
    whole-second mtimes (two saves within a second look like one) and walks the tree.
    A change is reloaded once it has settled (see `settled_reload`).
    """
    watch = reloader.snapshot.settings.watch
    await settled_reload(reloader, stop)
    while True:
        await _sleep_or_stop(stop, POLL_DELAY)
        if stop.is_set() or reloader.snapshot.settings.watch != watch:
            return
        # Against what the last reload read, not the last poll: an edit and its undo
        # between two polls must not hide the edit the reload caught in between.
        await settled_reload(reloader, stop)


async def _periodic(reloader: Reloader, stop: asyncio.Event) -> None:
    while not stop.is_set():
        watch = reloader.snapshot.settings.watch
        await _sleep_or_stop(stop, watch.interval)
        if not stop.is_set() and watch.enabled and reloader.directory.is_dir():
            await settled_reload(reloader, stop)


async def settled_reload(reloader: Reloader, stop: asyncio.Event) -> None:
    """Reload once the files have stopped changing: they read the same across SETTLE.

    Nothing is waited for when they read as the last reload read them (an event for a
    file Patchbay does not read, or a change already applied).
    """
    seen = await asyncio.to_thread(fingerprint, reloader.directory)
    if seen == reloader.last_read:
        return
    while not stop.is_set():
        await _sleep_or_stop(stop, SETTLE)
        now = await asyncio.to_thread(fingerprint, reloader.directory)
        if now == seen:
            await reloader.reload()
            return
        seen = now


def _watched(directory: Path) -> tuple[Path, ...]:
    return directory, directory / "config", *(directory / d for d in FRAGMENT_DIRS.values())


def _identity(directory: Path) -> tuple[tuple[int, int] | None, ...]:
    """(device, inode) of each watched directory, None where there is none."""
    found: list[tuple[int, int] | None] = []
    for path in _watched(directory):
        try:
            info = os.stat(path)  # follows symlinks: a Kubernetes `config` link is its target
        except OSError:
            found.append(None)
            continue
        found.append((info.st_dev, info.st_ino) if stat.S_ISDIR(info.st_mode) else None)
    return tuple(found)


def _outside(state_dir: Path) -> watchfiles.BaseFilter:
    """Events anywhere but the state directory, which Patchbay itself writes to."""

    class OutsideStateDir(watchfiles.BaseFilter):
        def __call__(self, change: watchfiles.Change, path: str) -> bool:
            candidate = Path(path)
            return candidate != state_dir and state_dir not in candidate.parents

    return OutsideStateDir()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    # asyncio.timeout, not wait_for: no task per wait (the settle window waits often).
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
