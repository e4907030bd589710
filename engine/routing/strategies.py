"""Routing state of one worker: strategy order, in-flight counts, provider cooldowns.

A plan's strategy decides the order its targets are tried in; a provider that failed
`cooldown.failures` times within `cooldown.window` seconds is skipped for
`cooldown.duration` seconds. Cooldowns live in a CooldownStore: this worker's memory,
or Redis when `redis_url` is set (see engine/stores/redis_store.py), so all workers agree.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict, deque
from typing import Protocol

from engine.snapshot.model import Cooldown, Plan, Target


class CooldownStore(Protocol):
    """Where failures are counted and cooldowns kept; shared or per worker."""

    async def cooling(self, provider: str) -> float:
        """Seconds left in `provider`'s cooldown; 0 when it is not cooling."""
        ...

    async def failed(self, provider: str, rule: Cooldown) -> None:
        """Count one failure; start a cooldown when the rule says so."""
        ...


class SharedCooldowns(CooldownStore, Protocol):
    async def close(self) -> None: ...


class MemoryCooldowns:
    """Cooldowns in this worker's memory."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._until: dict[str, float] = {}

    async def cooling(self, provider: str) -> float:
        return max(0.0, self._until.get(provider, 0.0) - time.monotonic())

    async def failed(self, provider: str, rule: Cooldown) -> None:
        now = time.monotonic()
        recent = self._failures[provider]
        recent.append(now)
        while recent and recent[0] < now - rule.window:
            recent.popleft()
        if len(recent) >= rule.failures:
            self._until[provider] = now + rule.duration
            recent.clear()


class Routing:
    """Orders a plan's targets and keeps the counts the strategies need."""

    def __init__(self) -> None:
        self._memory = MemoryCooldowns()
        self._shared: tuple[str, SharedCooldowns] | None = None
        self._turn: dict[str, int] = defaultdict(int)
        self._busy: dict[str, int] = defaultdict(int)
        self._random = random.Random()

    def cooldowns(self, redis_url: str | None) -> CooldownStore:
        """This worker's memory, or Redis when `redis_url` is set (followed across reloads)."""
        if redis_url is None:
            return self._memory
        if self._shared is None or self._shared[0] != redis_url:
            # Imported here so that redis is loaded only when a redis_url is configured.
            from engine.stores.redis_store import RedisCooldowns

            self._shared = (redis_url, RedisCooldowns(redis_url))
        return self._shared[1]

    async def close(self) -> None:
        if self._shared is not None:
            await self._shared[1].close()
            self._shared = None

    def order(self, plan: Plan) -> list[Target]:
        """The plan's targets in the order its strategy gives for this request."""
        targets = list(plan.targets)
        if len(targets) < 2 or plan.strategy == "fallback":
            return targets
        if plan.strategy == "round_robin":
            start = self._turn[plan.name] % len(targets)
            self._turn[plan.name] += 1
            return targets[start:] + targets[:start]
        if plan.strategy == "least_busy":
            return sorted(targets, key=lambda t: self._busy[t.public_id])
        # weighted: draw without replacement, so the others remain as fallbacks.
        pool = list(zip(targets, plan.weights, strict=True))
        ordered = []
        while pool:
            pick = self._random.choices(range(len(pool)), weights=[w for _, w in pool])[0]
            ordered.append(pool.pop(pick)[0])
        return ordered

    def busy(self, target: Target) -> Busy:
        """`with routing.busy(target):` counts a request in flight at `target`."""
        return Busy(self._busy, target.public_id)


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


def backoff(
    attempt: int, initial: float, ceiling: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry number `attempt` (1-based): exponential, full jitter."""
    return (rng or random).uniform(0, min(ceiling, initial * 2 ** (attempt - 1)))
