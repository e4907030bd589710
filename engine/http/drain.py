"""The end of a graceful shutdown: requests still running when the grace period is over.

After SIGTERM a worker stops accepting and lets what is in flight finish, for
`graceful_timeout` seconds. Whatever still runs then is not cut mid-byte: `end()`
cancels each request's task, and the front door turns that cancellation into an
answer, a 503 before the first byte or an SSE error event after it, then the close.
"""

from __future__ import annotations

import asyncio


class Drain:
    """The API requests in flight in one worker."""

    __slots__ = ("_over", "_tasks")

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()
        self._over = False

    def enter(self) -> asyncio.Task[object] | None:
        """Count the current task in; give it back to `leave` when the request is done."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        return task

    def leave(self, task: asyncio.Task[object] | None) -> None:
        self._tasks.discard(task)

    def in_flight(self) -> int:
        return len(self._tasks)

    def end(self) -> int:
        """The grace period is over: cancel every request still running; how many."""
        self._over = True
        for task in self._tasks:
            task.cancel()
        return len(self._tasks)

    def ended(self) -> bool:
        """Called where a CancelledError is caught: True when `end()` caused it (the
        cancellation is then taken back so that the request can answer and close)."""
        task = asyncio.current_task()
        if self._over and task is not None and task in self._tasks:
            task.uncancel()
            return True
        return False
