"""State shared by every worker and instance, kept in Redis: the one module importing redis.

Connections are opened lazily, on first use, in the worker's event loop; a Redis that
does not answer within a second is reported as CountersUnavailable (or, for stored
responses, StoreUnavailable), never as a hang.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from engine.stores.base import Cooldown, CountersUnavailable, StoreUnavailable

TIMEOUT = 1.0  # seconds to connect or to answer: a slow Redis must not stall requests


class RedisState:
    """Counters, cooldowns and the usage ledger over one Redis client.

    Counters: `SET NX EX` then `INCRBY`, one round trip. Cooldowns: failures counted
    in a fixed window (`SET NX EX` + `INCR`); reaching the rule's count sets a cooldown
    key that expires by itself. A Redis that does not answer cools nothing: routing
    carries on as if every target were well.
    """

    def __init__(
        self,
        url: str,
        on_failure: Callable[[], None] = lambda: None,
        on_answer: Callable[[], None] = lambda: None,
    ) -> None:
        self._client: Redis = Redis.from_url(
            url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT
        )
        self._on_failure = on_failure  # the owner's breaker opens
        self._on_answer = on_answer

    async def add(self, increments: Mapping[str, int], ttl: int) -> list[int]:
        pipe = self._client.pipeline(transaction=False)
        for key, amount in increments.items():
            # Create the key with its expiry only if absent; INCRBY keeps that expiry.
            pipe.set(key, 0, ex=ttl, nx=True)
            pipe.incrby(key, amount)
        try:
            results = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._on_failure()
            raise CountersUnavailable(f"redis: {type(exc).__name__}: {exc}") from None
        self._on_answer()
        return [int(total) for total in results[1::2]]

    async def totals(self, keys: Sequence[str]) -> list[int]:
        if not keys:
            return []
        try:
            found = await self._client.mget(list(keys))
        except (RedisError, OSError) as exc:
            self._on_failure()
            raise CountersUnavailable(f"redis: {type(exc).__name__}: {exc}") from None
        self._on_answer()
        return [int(total or 0) for total in found]

    async def cooling(self, name: str) -> float:
        try:
            left = await self._client.pttl(f"patchbay:cooldown:{name}")
        except (RedisError, OSError):
            self._on_failure()
            return 0.0
        self._on_answer()
        return max(0, int(left)) / 1000

    async def failed(self, name: str, rule: Cooldown) -> bool:
        failures = f"patchbay:failures:{name}"
        pipe = self._client.pipeline(transaction=False)
        pipe.set(failures, 0, ex=max(1, round(rule.window)), nx=True)
        pipe.incr(failures)
        try:
            count = int((await pipe.execute())[1])
            if count < rule.failures:
                return False
            pipe = self._client.pipeline(transaction=False)
            pipe.set(f"patchbay:cooldown:{name}", 1, px=max(1, round(rule.duration * 1000)))
            pipe.delete(failures)
            await pipe.execute()
        except (RedisError, OSError):
            self._on_failure()
            return False
        return True

    async def cool(self, name: str, seconds: float) -> bool:
        key = f"patchbay:cooldown:{name}"
        try:
            left = int(await self._client.pttl(key))
            wanted = max(1, round(seconds * 1000))
            if wanted > left:
                pipe = self._client.pipeline(transaction=False)
                pipe.set(key, 1, px=wanted)
                pipe.delete(f"patchbay:failures:{name}")
                await pipe.execute()
        except (RedisError, OSError):
            self._on_failure()
            return False
        return left <= 0

    async def failures(self, name: str) -> int:
        try:
            count = await self._client.get(f"patchbay:failures:{name}")
        except (RedisError, OSError):
            self._on_failure()
            return 0
        return int(count or 0)

    def answers(self) -> RedisAnswers:
        """The search cache's and the response cache's store, over this client and its
        breaker (each names its own keys)."""
        return RedisAnswers(self._client, self._on_failure, self._on_answer)

    def responses(self) -> RedisResponses:
        """The store of responses, over this client (a failure opens the breaker)."""
        return RedisResponses(self._client, self._on_failure)

    async def record(self, day: str, amounts: Mapping[str, int], ttl: int) -> None:
        """The Ledger protocol: one hash per day, `HINCRBY` per field, expiring `ttl`
        after the day's latest record."""
        key = f"patchbay:ledger:{day}"
        pipe = self._client.pipeline(transaction=False)
        for field, amount in amounts.items():
            pipe.hincrby(key, field, amount)
        pipe.expire(key, ttl)
        try:
            await pipe.execute()
        except (RedisError, OSError):
            self._on_failure()

    async def days(self, days: Sequence[str]) -> list[dict[str, int]]:
        pipe = self._client.pipeline(transaction=False)
        for day in days:
            pipe.hgetall(f"patchbay:ledger:{day}")
        try:
            found = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._on_failure()
            raise CountersUnavailable(f"redis: {type(exc).__name__}: {exc}") from None
        self._on_answer()
        return [{k.decode(): int(v) for k, v in tallies.items()} for tallies in found]

    async def close(self) -> None:
        # Closing the connections to a Redis that is already gone is not an error.
        with contextlib.suppress(RedisError, OSError):
            await self._client.aclose()


class RedisAnswers:
    """The Answers protocol over Redis: `GET`, and `SET PX` with the TTL.

    A Redis that does not answer is a miss on read and keeps nothing on write.
    """

    def __init__(
        self, client: Redis, on_failure: Callable[[], None], on_answer: Callable[[], None]
    ) -> None:
        self._client = client
        self._on_failure = on_failure
        self._on_answer = on_answer

    async def get(self, key: str) -> bytes | None:
        try:
            found = await self._client.get(key)
        except (RedisError, OSError):
            self._on_failure()
            return None
        self._on_answer()
        return found if isinstance(found, bytes) else None

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        try:
            await self._client.set(key, value, px=max(1, round(ttl * 1000)))
        except (RedisError, OSError):
            self._on_failure()


class RedisResponses:
    """The ResponseStore protocol over the same client: `SET EX`, `GET`, `DEL`."""

    def __init__(self, client: Redis, on_failure: Callable[[], None]) -> None:
        self._client = client
        self._on_failure = on_failure

    async def put(self, key: str, record: bytes, ttl: int) -> None:
        await self._call(self._client.set(key, record, ex=ttl))

    async def get(self, key: str) -> bytes | None:
        found = await self._call(self._client.get(key))
        return bytes(found) if found is not None else None

    async def delete(self, key: str) -> bool:
        return bool(await self._call(self._client.delete(key)))

    async def _call(self, command: Awaitable[Any]) -> Any:
        try:
            return await command
        except (RedisError, OSError) as exc:
            self._on_failure()
            raise StoreUnavailable(f"redis: {type(exc).__name__}: {exc}") from None
