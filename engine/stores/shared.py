"""The one store of shared state a worker owns: memory, or the Redis at `redis_url`.

Limits, budgets, cooldowns, the usage ledger, the search and response caches and stored
responses ask it, with the `redis_url` of their request's snapshot, so all follow an edit
of `redis_url` live; the client of a Redis no longer named is closed.

A Redis that fails or times out opens a breaker: for BREAKER_SECONDS every call is
served from this worker's memory, so a frozen Redis costs one request one timeout
(TIMEOUT in engine/stores/redis_store.py), not every request one per shared-state call.
Counters kept in Redis are lost when Redis restarts without persistence, as are the
ones kept in memory while the breaker was open: limits restart from zero for the
minute under way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.config.settings import ResponsesStore
from engine.stores.base import Answers, Cooldowns, Counters, Ledger, ResponseStore
from engine.stores.memory import (
    MemoryAnswers,
    MemoryCooldowns,
    MemoryCounters,
    MemoryLedger,
    MemoryResponses,
)

if TYPE_CHECKING:
    from engine.stores.redis_store import RedisState

BREAKER_SECONDS = 5.0  # memory only, after a Redis failure, before Redis is tried again


class SharedState:
    """Counters, cooldowns, cached answers and stored responses for one worker, kept where
    the live config says."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._counters = MemoryCounters()
        self._cooldowns = MemoryCooldowns()
        self._answers = MemoryAnswers()
        self._responses = MemoryResponses(ResponsesStore().max_bytes)
        self._cached = MemoryAnswers()  # apart from the search cache: neither evicts the other
        self._ledger = MemoryLedger()
        self._redis: tuple[str, RedisState] | None = None
        self._open_until = 0.0  # the breaker: memory only until then
        self._failing_since: float | None = None  # wall-clock time of the first failure

    async def counters(self, redis_url: str | None) -> Counters:
        if redis_url is None or self._breaker_open():
            return self._counters
        return await self._shared(redis_url)

    async def cooldowns(self, redis_url: str | None) -> Cooldowns:
        if redis_url is None or self._breaker_open():
            return self._cooldowns
        return await self._shared(redis_url)

    async def answers(self, redis_url: str | None, max_entries: int) -> Answers:
        """The search cache: in memory (at most `max_entries`), or in Redis."""
        if redis_url is None or self._breaker_open():
            self._answers.max_entries = max_entries
            return self._answers
        return (await self._shared(redis_url)).answers()

    async def responses(self, store: ResponsesStore, redis_url: str | None) -> ResponseStore | None:
        """Where stored responses are kept, as `responses_store` says; None for no store.

        The breaker does not apply: memory cannot stand in for what other workers stored.
        """
        if store.backend == "memory":
            self._responses.max_bytes = store.max_bytes  # an edit applies to the next put
            return self._responses
        if store.backend == "redis" and redis_url is not None:
            return (await self._shared(redis_url)).responses()
        return None

    async def response_cache(self, redis_url: str | None, max_bytes: int) -> Answers:
        """The response cache: in memory (at most `max_bytes` of answers), or in Redis."""
        if redis_url is None or self._breaker_open():
            self._cached.max_bytes = max_bytes
            self._cached.max_entries = max_bytes  # the byte bound is the one that counts
            return self._cached
        return (await self._shared(redis_url)).answers()

    async def ledger(self, redis_url: str | None) -> Ledger:
        """Spend and tokens by day: this worker's alone in memory, everyone's in Redis."""
        if redis_url is None or self._breaker_open():
            return self._ledger
        return await self._shared(redis_url)

    def health(self, redis_url: str | None) -> dict[str, Any]:
        """Where shared state is kept now, and since when Redis has failed (if it has)."""
        if redis_url is None:
            return {"backend": "memory", "ok": True, "failing_since": None}
        return {
            "backend": "redis",
            "ok": self._failing_since is None,
            "failing_since": self._failing_since,
        }

    def _breaker_open(self) -> bool:
        return self._clock() < self._open_until

    def _failed(self) -> None:
        self._open_until = self._clock() + BREAKER_SECONDS
        if self._failing_since is None:
            self._failing_since = time.time()

    def _answered(self) -> None:
        self._failing_since = None

    async def _shared(self, url: str) -> RedisState:
        if self._redis is None or self._redis[0] != url:
            # Imported here so that redis is loaded only when a redis_url is configured.
            from engine.stores.redis_store import RedisState

            await self.close()
            self._redis = (url, RedisState(url, on_failure=self._failed, on_answer=self._answered))
        return self._redis[1]

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis[1].close()
            self._redis = None
