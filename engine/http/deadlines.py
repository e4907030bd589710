"""Time limits for the requests of one worker, sharing one loop timer per step.

`request_timeout` bounds every request and `defaults.deadline` every dispatch, so two
limits are entered and left per request. A limit is rounded up to the next step (a
TICK, or a hundredth of the limit when that is longer) and the limits due in the same
step share one timer: entering and leaving is a set insertion and removal, where a
timer per limit (`asyncio.timeout`) costs several times more on a path every request
takes. A step per hundredth keeps the steps pending at once to about a hundred per
distinct limit, however long the limit (a 300 s limit in 0.1 s steps would keep 3,000).
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType


class DeadlinePassed(TimeoutError):
    """Raised in place of the cancellation when a `Deadlines.within` block ran out."""


class Deadlines:
    """A worker's pending limits, grouped by the step they fall due in."""

    TICK = 0.1  # seconds: the finest step
    STEPS = 100  # a limit is met within a hundredth of itself, at the finest a TICK

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
        step = max(self.TICK, seconds / self.STEPS)
        due = math.ceil((loop.time() + seconds) / step) * step
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
