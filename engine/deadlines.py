"""Time limits for the requests of one worker, sharing one loop timer per tick.

`request_timeout` bounds every request and `defaults.deadline` every dispatch, so two
limits are entered and left per request. A limit is rounded up to the next TICK and
the limits due in the same tick share one timer: entering and leaving is a set
insertion and removal, where a timer per limit (`asyncio.timeout`) costs several
times more on a path every request takes.
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType


class DeadlinePassed(TimeoutError):
    """Raised in place of the cancellation when a `Deadlines.within` block ran out."""


class Deadlines:
    """A worker's pending limits, grouped by the tick they fall due in."""

    TICK = 0.1  # seconds: a block is cancelled at most this much after its limit

    def __init__(self) -> None:
        self._due: dict[float, set[Deadline]] = {}

    def within(self, seconds: float) -> Deadline:
        """`with deadlines.within(s):` cancels the block's task after `s` seconds and
        raises DeadlinePassed in its place, as `asyncio.timeout` raises TimeoutError.
        Limits nest: each tells its own expiry from an outer one's and from any other
        cancellation."""
        return Deadline(self, seconds)

    def _join(
        self, deadline: Deadline, seconds: float, loop: asyncio.AbstractEventLoop
    ) -> set[Deadline]:
        due = math.ceil((loop.time() + seconds) / self.TICK) * self.TICK
        group = self._due.get(due)
        if group is None:
            group = self._due[due] = set()
            loop.call_at(due, self._expire, due)
        group.add(deadline)
        return group

    def _expire(self, due: float) -> None:
        for deadline in self._due.pop(due, ()):
            deadline.expire()


class Deadline:
    """One limit on the current task; a context manager (see `Deadlines.within`)."""

    __slots__ = ("_cancelling", "_deadlines", "_group", "_seconds", "_task", "expired")

    def __init__(self, deadlines: Deadlines, seconds: float) -> None:
        self._deadlines = deadlines
        self._seconds = seconds
        self._task: asyncio.Task[object] | None = None
        self._group: set[Deadline] = set()
        self._cancelling = 0
        self.expired = False

    def __enter__(self) -> Deadline:
        task = self._task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline needs a running task")
        self._cancelling = task.cancelling()
        self._group = self._deadlines._join(self, self._seconds, task.get_loop())
        return self

    def expire(self) -> None:
        self.expired = True
        if self._task is not None:
            self._task.cancel()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._group.discard(self)
        if not self.expired or self._task is None:
            return
        # Ours only if we cancelled the task and nobody else did too (as asyncio.timeout).
        if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise DeadlinePassed from None
