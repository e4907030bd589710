"""A client that hangs up must not keep an upstream busy: its request is cancelled.

Hypercorn tells an app of a disconnect only through `receive()`, which nothing reads
once the body is in. `DisconnectWatch` reads it for the rest of the request and cancels
the request's task when the client goes, so the upstream call (a JSON answer still
awaited or a stream being relayed) is dropped at once. A request answered within
WATCH_AFTER costs one loop timer; only a longer one gets a task that waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

WATCH_AFTER = 0.05  # seconds a request runs before its client's disconnect is watched for


class DisconnectWatch:
    """Watches one request's client from `arm()` until `close()`."""

    __slots__ = ("_closed", "_receive", "_task", "_timer", "_watcher")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._watcher: asyncio.Future[None] | None = None
        self._closed = False

    def arm(self) -> None:
        """Start watching the current task's client; `receive` is the watch's from here on."""
        task = self._task = asyncio.current_task()
        if task is None:
            raise RuntimeError("an ASGI app runs in a task")
        self._timer = task.get_loop().call_later(WATCH_AFTER, self._watch)

    def hung_up(self) -> bool:
        """Called once where a CancelledError is caught: True when the client's hanging up
        caused it (the cancellation is then taken back and the request ends quietly);
        False for any other cancellation (a shutdown), which must go on."""
        watcher = self._watcher
        left = watcher is not None and watcher.done() and not watcher.cancelled()
        if left and self._task is not None:
            self._task.uncancel()
        return left

    def close(self) -> None:
        """Stop watching: the request is answered (or over)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._watcher is not None:
            self._watcher.cancel()

    def _watch(self) -> None:
        self._watcher = asyncio.ensure_future(_disconnected(self._receive))
        self._watcher.add_done_callback(self._client_left)

    def _client_left(self, _: object) -> None:
        if not self._closed and self._task is not None:
            self._task.cancel()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
