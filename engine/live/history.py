"""The last reloads that did something: each applied or rejected edit, with its time and
what it changed or why it was refused; the dashboard shows them.

Re-reads that found nothing new (`unchanged`) are counted, not kept: an editor's
save can fire several events, and they would push the edits that matter out.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

KEPT = 20  # reloads remembered, the latest last

Kept = Literal["applied", "rejected"]


@dataclass(frozen=True, slots=True)
class ReloadEvent:
    at: float  # Unix time
    result: Kept
    config_hash: str  # applied: the new config's; rejected: the one still serving
    lines: tuple[str, ...]  # applied: what changed; rejected: the problems, file:line:col

    @property
    def applied(self) -> bool:
        return self.result == "applied"


class ReloadHistory:
    """A bounded record of reloads, oldest first."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._events: deque[ReloadEvent] = deque(maxlen=KEPT)

    def add(self, result: Kept, config_hash: str, lines: list[str]) -> None:
        self._events.append(ReloadEvent(self._clock(), result, config_hash, tuple(lines)))

    def entries(self, redact: Callable[[str], str]) -> list[dict[str, Any]]:
        """The events as JSON values, oldest first, each line passed through `redact`."""
        return [
            {
                "at": event.at,
                "result": event.result,
                "config_hash": event.config_hash,
                "changes": [redact(line) for line in event.lines] if event.applied else [],
                "problems": [] if event.applied else [redact(line) for line in event.lines],
            }
            for event in self._events
        ]
