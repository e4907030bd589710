"""Requests and tokens per minute, per client, over counters kept in memory or in Redis.

Windows are fixed wall-clock minutes, so every worker and every instance sharing a
Redis agrees on them; a counter's key names the client and the minute and expires
soon after it. `rpm` is counted and checked when a request is admitted. `tpm` is
checked at admission against the tokens the client already used this minute, and the
answer's tokens are charged when it is complete (engine/formats/tally.py reads them:
the `usage` of a JSON answer, the usage chunk of a stream, or an estimate).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from engine.errors import RateLimited
from engine.stores.base import CountersUnavailable
from engine.stores.shared import SharedState

log = logging.getLogger("patchbay.limits")

WINDOW = 60  # seconds: rpm and tpm are per minute


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

    def __init__(self, state: SharedState, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.state = state
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

    def _keys(self, who: str, now: float) -> tuple[str, str]:
        minute = int(now // WINDOW)
        return f"patchbay:limit:{who}:rpm:{minute}", f"patchbay:limit:{who}:tpm:{minute}"

    async def _add(self, increments: Mapping[str, int], redis_url: str | None) -> list[int] | None:
        """Totals after adding; None when the shared store failed (this request is not limited;
        engine/stores/shared.py serves the next ones from memory for a while)."""
        counters = await self.state.counters(redis_url)
        try:
            totals = await counters.add(increments, 2 * WINDOW)
        except CountersUnavailable as exc:
            if not self._failing:  # say it once per outage, not once per request
                log.warning("rate-limit counters unavailable, counting in this worker: %s", exc)
            self._failing = True
            return None
        if self._failing:
            log.warning("rate-limit counters reachable again, limits enforced")
            self._failing = False
        return totals


def _limited(what: str, who: str, now: float) -> RateLimited:
    retry_after = max(1, math.ceil((int(now // WINDOW) + 1) * WINDOW - now))
    client = f"API key '{who[4:]}'" if who.startswith("key:") else "this client"
    return RateLimited(
        f"Rate limit reached for {client}: {what}. Try again in {retry_after}s.",
        headers={"Retry-After": str(retry_after)},
    )
