"""Counters, cooldowns, answers, stored responses and the ledger in this worker's memory: exact for one
worker, per worker for several."""

from __future__ import annotations

import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable, Mapping, Sequence

from engine.stores.base import Cooldown


class MemoryCounters:
    """The Counters protocol in a dict; expired keys are swept once per ttl."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counts: dict[str, tuple[int, float]] = {}  # key -> (total, expires at)
        self._sweep_at = 0.0

    async def add(self, increments: Mapping[str, int], ttl: int) -> list[int]:
        now = self._clock()
        if now >= self._sweep_at:
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            self._sweep_at = now + ttl
        totals = []
        for key, amount in increments.items():
            total, expires = self._counts.get(key, (0, 0.0))
            if expires <= now:
                total, expires = 0, now + ttl
            self._counts[key] = (total + amount, expires)
            totals.append(total + amount)
        return totals

    async def totals(self, keys: Sequence[str]) -> list[int]:
        now = self._clock()
        found = (self._counts.get(key, (0, 0.0)) for key in keys)
        return [total if expires > now else 0 for total, expires in found]


class MemoryCooldowns:
    """The Cooldowns protocol over a sliding window of failure times."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._until: dict[str, float] = {}

    async def cooling(self, name: str) -> float:
        return max(0.0, self._until.get(name, 0.0) - time.monotonic())

    async def failed(self, name: str, rule: Cooldown) -> bool:
        now = time.monotonic()
        recent = self._failures[name]
        recent.append(now)
        while recent and recent[0] < now - rule.window:
            recent.popleft()
        if len(recent) < rule.failures:
            return False
        self._until[name] = now + rule.duration
        recent.clear()
        return True

    async def cool(self, name: str, seconds: float) -> bool:
        now = time.monotonic()
        until = self._until.get(name, 0.0)
        self._until[name] = max(until, now + seconds)
        self._failures.pop(name, None)
        return until <= now

    async def failures(self, name: str) -> int:
        return len(self._failures.get(name, ()))


class MemoryAnswers:
    """The Answers protocol in a dict: at most `max_entries` and `max_bytes` of values,
    least recently used out first. A value larger than an eighth of `max_bytes` is not
    kept: it would push out many others."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self.max_entries = 1000
        self.max_bytes: int | None = None

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if found[0] <= self._clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return found[1]

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        if self.max_bytes is not None and len(value) > self.max_bytes // 8:
            return
        self._drop(key)
        self._entries[key] = (self._clock() + ttl, value)
        self._bytes += len(value)
        while len(self._entries) > self.max_entries or (
            self.max_bytes is not None and self._bytes > self.max_bytes
        ):
            self._drop(next(iter(self._entries)))

    @property
    def size(self) -> int:
        """Bytes of values kept now."""
        return self._bytes

    def _drop(self, key: str) -> None:
        found = self._entries.pop(key, None)
        if found is not None:
            self._bytes -= len(found[1])


class MemoryLedger:
    """The Ledger protocol in a dict of days; a day is dropped `ttl` after its latest record."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._days: dict[str, tuple[float, dict[str, int]]] = {}  # day -> (expires, tallies)
        self._sweep_at = 0.0

    async def record(self, day: str, amounts: Mapping[str, int], ttl: int) -> None:
        now = self._clock()
        expires, tallies = self._days.get(day, (now, {}))
        if expires <= now:
            tallies = {}
        for field, amount in amounts.items():
            tallies[field] = tallies.get(field, 0) + amount
        self._days[day] = (now + ttl, tallies)
        if now >= self._sweep_at:  # expired days go once an hour
            self._days = {d: kept for d, kept in self._days.items() if kept[0] > now}
            self._sweep_at = now + 3600

    async def days(self, days: Sequence[str]) -> list[dict[str, int]]:
        now = self._clock()
        found = (self._days.get(day, (0.0, {})) for day in days)
        return [dict(tallies) if expires > now else {} for expires, tallies in found]


class MemoryResponses:
    """The ResponseStore protocol in an ordered dict, bounded by the bytes it holds.

    Beyond `max_bytes` the oldest records go first; expired ones go when looked up or
    when a new record is put.
    """

    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self._clock = clock
        self._records: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # oldest first
        self._bytes = 0

    async def put(self, key: str, record: bytes, ttl: int) -> None:
        self._drop(key)
        if len(record) > self.max_bytes:
            return  # larger than the whole store: kept nowhere, like an expired record
        self._records[key] = (record, self._clock() + ttl)
        self._bytes += len(record)
        self._make_room()

    async def get(self, key: str) -> bytes | None:
        found = self._records.get(key)
        if found is None:
            return None
        if found[1] <= self._clock():
            self._drop(key)
            return None
        return found[0]

    async def delete(self, key: str) -> bool:
        return self._drop(key)

    def _drop(self, key: str) -> bool:
        found = self._records.pop(key, None)
        if found is None:
            return False
        self._bytes -= len(found[0])
        return found[1] > self._clock()  # an expired record was already gone

    def _make_room(self) -> None:
        # Records share one ttl (unless an edit changed it), so the oldest expire first.
        now = self._clock()
        while self._records and next(iter(self._records.values()))[1] <= now:
            self._drop(next(iter(self._records)))
        while self._bytes > self.max_bytes:
            self._drop(next(iter(self._records)))
