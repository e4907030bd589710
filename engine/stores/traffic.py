"""What this worker's routing strategies count: requests in flight and turns taken."""

from __future__ import annotations

import random
from collections import defaultdict


class Traffic:
    """Per-worker counts the strategies read; `with traffic.busy(target_id):` counts one."""

    def __init__(self, seed: int | None = None) -> None:
        self.in_flight: dict[str, int] = defaultdict(int)  # target id -> requests under way
        self.turns: dict[str, int] = defaultdict(int)  # plan name -> requests routed
        self.random = random.Random(seed)

    def busy(self, target_id: str) -> Busy:
        return Busy(self.in_flight, target_id)


class Busy:
    """Counts one request in flight for its block (least_busy reads the counts)."""

    __slots__ = ("_counts", "_key")

    def __init__(self, counts: dict[str, int], key: str) -> None:
        self._counts = counts
        self._key = key

    def __enter__(self) -> None:
        self._counts[self._key] += 1

    def __exit__(self, *_: object) -> None:
        self._counts[self._key] -= 1
