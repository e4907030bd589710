"""What a store of shared state promises: expiring counters, provider cooldowns, cached
answers, stored responses and the usage ledger.

Two implementations keep the same promises: this worker's memory (engine/stores/memory.py)
and Redis (engine/stores/redis_store.py), which every worker and instance sharing it agree on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


class CountersUnavailable(Exception):
    """The shared counter store did not answer; limits are skipped until it does."""


class StoreUnavailable(Exception):
    """The store of responses did not answer."""


FAILURE_CLASSES = frozenset({"connect", "timeout", "429", "5xx"})


@dataclass(frozen=True, slots=True)
class Cooldown:
    """`failures` failures (of the classes in `on`) within `window` seconds cool a target
    for `duration` seconds; a 429's Retry-After cools it that long, up to `max_duration`."""

    failures: int = 3
    window: float = 60.0
    duration: float = 30.0
    on: frozenset[str] = FAILURE_CLASSES
    max_duration: float = 300.0


class Counters(Protocol):
    """A store of integer counters that expire."""

    async def add(self, increments: Mapping[str, int], ttl: int) -> list[int]:
        """Add each amount to its key and return the totals, in order.

        A missing key starts at 0 and expires `ttl` seconds after it was created.
        Raises CountersUnavailable when the store cannot be reached.
        """
        ...

    async def totals(self, keys: Sequence[str]) -> list[int]:
        """The current total of each key, in order (0 for a missing or expired one).

        Raises CountersUnavailable when the store cannot be reached.
        """
        ...


class Cooldowns(Protocol):
    """Where failures are counted and cooldowns kept."""

    async def cooling(self, name: str) -> float:
        """Seconds left in `name`'s cooldown; 0 when it is not cooling."""
        ...

    async def failed(self, name: str, rule: Cooldown) -> bool:
        """Count one failure; start a cooldown when the rule says so (then True)."""
        ...

    async def cool(self, name: str, seconds: float) -> bool:
        """Start (or lengthen) `name`'s cooldown to `seconds` from now; True when it
        was not cooling before."""
        ...

    async def failures(self, name: str) -> int:
        """Failures counted in `name`'s current window (0 after a cooldown starts)."""
        ...


class Answers(Protocol):
    """Answers kept for a while under a key (the search cache); values are opaque bytes."""

    async def get(self, key: str) -> bytes | None:
        """The value under `key`, or None when there is none (or it expired)."""
        ...

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        """Keep `value` under `key` for `ttl` seconds; a store that fails keeps nothing."""
        ...


class ResponseStore(Protocol):
    """Records (opaque bytes) under string keys, each kept for its own ttl."""

    async def put(self, key: str, record: bytes, ttl: int) -> None:
        """Keep `record` under `key` for `ttl` seconds, replacing what was there.

        Raises StoreUnavailable when the store cannot be reached.
        """
        ...

    async def get(self, key: str) -> bytes | None:
        """The record under `key`; None when there is none or it expired."""
        ...

    async def delete(self, key: str) -> bool:
        """Forget `key`; whether there was a record to forget."""
        ...


class Ledger(Protocol):
    """Integer tallies per day, each under a field name (the usage ledger, engine/spend)."""

    async def record(self, day: str, amounts: Mapping[str, int], ttl: int) -> None:
        """Add each amount to its field of `day`; the day is kept `ttl` seconds after its
        latest record. A store that fails records nothing."""
        ...

    async def days(self, days: Sequence[str]) -> list[dict[str, int]]:
        """Each day's tallies (field -> total), in order; {} for a day with none.

        Raises CountersUnavailable when the store cannot be reached.
        """
        ...
