"""Requests and tokens per minute, per client, over counters kept in memory or in Redis.

Windows are fixed wall-clock minutes, so every worker and every instance sharing a
Redis agrees on them; a counter's key names the client and the minute and expires
soon after it. `rpm` is counted and checked when a request is admitted. `tpm` is
checked at admission against the tokens the client already used this minute, and the
answer's tokens are charged when it is complete: the `usage` of a JSON answer, the
usage chunk of a stream, or, for a stream without one, an estimate (about four bytes
of request and four characters of streamed text per token).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from engine.errors import RateLimited
from engine.formats.sse import payloads

log = logging.getLogger("patchbay.limits")

WINDOW = 60  # seconds: rpm and tpm are per minute
BYTES_PER_TOKEN = 4  # rough English-text ratio, used only when no usage is reported


class CountersUnavailable(Exception):
    """The shared counter store did not answer; limits are skipped until it does."""


class Counters(Protocol):
    """A store of integer counters that expire; shared or per process."""

    async def add(self, increments: Mapping[str, int], ttl: int) -> list[int]:
        """Add each amount to its key and return the totals, in order.

        A missing key starts at 0 and expires `ttl` seconds after it was created.
        Raises CountersUnavailable when the store cannot be reached.
        """
        ...

    async def close(self) -> None: ...


class MemoryCounters:
    """Counters in this process: exact for one worker, per worker for several."""

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

    async def close(self) -> None:
        self._counts.clear()


@dataclass(frozen=True, slots=True)
class Quota:
    """The limits one client is under; `who` is `key:<name>` or `ip:<address>`."""

    who: str
    rpm: int | None
    tpm: int | None


class Limiter:
    """Admits requests under a Quota and charges tokens; lives as long as the worker.

    Counters are keyed by client, not by snapshot, so they survive config reloads,
    and a changed limit applies to the minute already under way.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._memory = MemoryCounters()
        self._shared: tuple[str, Counters] | None = None
        self._failing = False

    async def admit(self, quota: Quota, redis_url: str | None) -> dict[str, str]:
        """Count one request; raise RateLimited when the quota is spent.

        Returns the `x-ratelimit-*` headers for the answer.
        """
        now = self.clock()
        rpm_key, tpm_key = self._keys(quota.who, now)
        increments = {rpm_key: 1} if quota.rpm else {}
        if quota.tpm:
            increments[tpm_key] = 0  # read only: tokens are charged when the answer is done
        totals = await self._add(increments, redis_url)
        if totals is None:
            return {}
        used = dict(zip(increments, totals, strict=True))
        headers: dict[str, str] = {}
        if quota.rpm:
            requests = used[rpm_key]
            if requests > quota.rpm:
                raise _limited(f"{quota.rpm} requests per minute", quota.who, now)
            headers["x-ratelimit-limit-requests"] = str(quota.rpm)
            headers["x-ratelimit-remaining-requests"] = str(quota.rpm - requests)
        if quota.tpm:
            tokens = used[tpm_key]
            if tokens >= quota.tpm:
                raise _limited(f"{quota.tpm} tokens per minute", quota.who, now)
            headers["x-ratelimit-limit-tokens"] = str(quota.tpm)
            headers["x-ratelimit-remaining-tokens"] = str(quota.tpm - tokens)
        return headers

    async def charge(self, quota: Quota, tokens: int, redis_url: str | None) -> None:
        """Add an answer's tokens to the client's current minute."""
        if tokens > 0:
            await self._add({self._keys(quota.who, self.clock())[1]: tokens}, redis_url)

    async def close(self) -> None:
        if self._shared is not None:
            await self._shared[1].close()
            self._shared = None

    def _keys(self, who: str, now: float) -> tuple[str, str]:
        minute = int(now // WINDOW)
        return f"patchbay:limit:{who}:rpm:{minute}", f"patchbay:limit:{who}:tpm:{minute}"

    async def _add(self, increments: Mapping[str, int], redis_url: str | None) -> list[int] | None:
        """Totals after adding; None when the shared store is down (limits fail open)."""
        counters = await self._counters(redis_url)
        try:
            totals = await counters.add(increments, 2 * WINDOW)
        except CountersUnavailable as exc:
            if not self._failing:  # say it once per outage, not once per request
                log.warning("rate-limit counters unavailable, limits not enforced: %s", exc)
            self._failing = True
            return None
        if self._failing:
            log.warning("rate-limit counters reachable again, limits enforced")
            self._failing = False
        return totals

    async def _counters(self, redis_url: str | None) -> Counters:
        if redis_url is None:
            return self._memory
        if self._shared is None or self._shared[0] != redis_url:
            # Imported here so that redis is loaded only when a redis_url is configured.
            from engine.stores.redis_store import RedisCounters

            await self.close()
            self._shared = (redis_url, RedisCounters(redis_url))
        return self._shared[1]


def _limited(what: str, who: str, now: float) -> RateLimited:
    retry_after = max(1, math.ceil((int(now // WINDOW) + 1) * WINDOW - now))
    client = f"API key '{who[4:]}'" if who.startswith("key:") else "this client"
    return RateLimited(
        f"Rate limit reached for {client}: {what}. Try again in {retry_after}s.",
        headers={"Retry-After": str(retry_after)},
    )


def usage_tokens(usage: Any) -> int | None:
    """prompt + completion tokens of an OpenAI `usage` object (else its total); None if absent."""
    if not isinstance(usage, dict):
        return None
    parts = [usage.get("prompt_tokens"), usage.get("completion_tokens")]
    if any(isinstance(p, int) for p in parts):
        return sum(p for p in parts if isinstance(p, int))
    total = usage.get("total_tokens")
    return total if isinstance(total, int) else None


def response_tokens(body: bytes) -> int:
    """The tokens a JSON answer reports in `usage`; 0 for answers without one (e.g. images)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return 0
    return (usage_tokens(data.get("usage")) if isinstance(data, dict) else None) or 0


class StreamTally:
    """The tokens of a streamed answer: its usage chunk when one passes, else an estimate."""

    def __init__(self, request_body: bytes) -> None:
        self.prompt_estimate = math.ceil(len(request_body) / BYTES_PER_TOKEN)
        self.text_chars = 0
        self.reported: int | None = None

    def see(self, framed: bytes) -> None:
        """Read what the client is sent: one or more whole SSE events."""
        for payload in payloads(framed):
            if payload.startswith(b"{"):
                self._chunk(payload)

    def _chunk(self, payload: bytes) -> None:
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(chunk, dict):
            return  # not a chunk: relayed as it is, and counted as nothing
        reported = usage_tokens(chunk.get("usage"))
        if reported is not None:
            self.reported = reported
            return
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict):
                self.text_chars += _delta_chars(delta)

    @property
    def tokens(self) -> int:
        if self.reported is not None:
            return self.reported
        return self.prompt_estimate + math.ceil(self.text_chars / BYTES_PER_TOKEN)


def _delta_chars(delta: dict[str, Any]) -> int:
    """Characters of generated text in a chunk's delta: content and tool-call arguments."""
    content = delta.get("content")
    chars = len(content) if isinstance(content, str) else 0
    calls = delta.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        arguments = function.get("arguments") if isinstance(function, dict) else None
        chars += len(arguments) if isinstance(arguments, str) else 0
    return chars


async def tallied(
    events: AsyncIterator[bytes], tally: StreamTally, charge: Callable[[int], Awaitable[None]]
) -> AsyncIterator[bytes]:
    """Relay `events` unchanged; when the stream ends, however it ends, charge its tokens."""
    try:
        async for event in events:
            tally.see(event)
            yield event
    finally:
        await events.aclose()  # type: ignore[attr-defined]
        await charge(tally.tokens)
