"""The one store of shared state a worker owns: memory, or the Redis at `redis_url`.

Limits and cooldowns both ask it, with the `redis_url` of their request's snapshot, so
both follow an edit of `redis_url` live; the client of a Redis no longer named is closed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.stores.base import Cooldowns, Counters
from engine.stores.memory import MemoryCooldowns, MemoryCounters

if TYPE_CHECKING:
    from engine.stores.redis_store import RedisState


class SharedState:
    """Counters and cooldowns for one worker, kept where the live config says."""

    def __init__(self) -> None:
        self._counters = MemoryCounters()
        self._cooldowns = MemoryCooldowns()
        self._redis: tuple[str, RedisState] | None = None

    async def counters(self, redis_url: str | None) -> Counters:
        return self._counters if redis_url is None else await self._shared(redis_url)

    async def cooldowns(self, redis_url: str | None) -> Cooldowns:
        return self._cooldowns if redis_url is None else await self._shared(redis_url)

    async def _shared(self, url: str) -> RedisState:
        if self._redis is None or self._redis[0] != url:
            # Imported here so that redis is loaded only when a redis_url is configured.
            from engine.stores.redis_store import RedisState

            await self.close()
            self._redis = (url, RedisState(url))
        return self._redis[1]

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis[1].close()
            self._redis = None
