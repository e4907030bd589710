"""Budgets per client key: what it has spent in each window, and which targets it may
still use.

The guard reads a key's standing once, at admission (`Budgets.standing`), and hands
it to routing as the request's Allowance: a spent budget refuses the targets it covers
whose model has a non-zero price, so free models and cached answers still serve.
Spend is charged when an answer is complete, a stream's when it ends, so a stream
admitted under budget is never cut off; requests in flight when a budget is reached
may take it past its limit. Counters are billionths of a dollar, in memory or in Redis
(engine/stores), exact across workers and instances with Redis.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from engine.config.settings import Budget, ClientKey
from engine.errors import GatewayError, QuotaExceeded
from engine.providers.prices import NANO, nano, usd
from engine.snapshot.model import Target
from engine.spend.windows import CALENDAR, span
from engine.stores.base import CountersUnavailable
from engine.stores.shared import SharedState

log = logging.getLogger("patchbay.budgets")


@dataclass(frozen=True, slots=True)
class Standing:
    """One budget of a key: spent so far in its window (billionths of a dollar)."""

    budget: Budget
    spent: int
    resets_at: float

    @property
    def exhausted(self) -> bool:
        return self.spent >= nano(self.budget.usd)

    def covers(self, provider: str) -> bool:
        return self.budget.provider is None or self.budget.provider == provider


class Allowance:
    """A key's budgets as they stood when its request was admitted."""

    def __init__(self, key: ClientKey, standings: tuple[Standing, ...], now: float) -> None:
        self.key = key
        self.standings = standings
        self.now = now

    def refuses(self, target: Target) -> GatewayError | None:
        price = target.model.price
        if price is None or price.free:
            return None  # nothing to charge: a budget never blocks a free (or unpriced) model
        for standing in self.standings:
            if standing.exhausted and standing.covers(target.provider.name):
                return self._error(standing)
        return None

    def spent(self, charged: int = 0, provider: str | None = None) -> str:
        """`x-patchbay-key-spend`: dollars spent in the key's first budget at every
        provider (else its first), with `charged` added when it covers `provider`."""
        first = next((s for s in self.standings if s.budget.provider is None), self.standings[0])
        added = charged if provider is None or first.covers(provider) else 0
        return usd((first.spent + added) / NANO)

    def _error(self, standing: Standing) -> QuotaExceeded:
        budget = standing.budget
        where = f"at provider '{budget.provider}'" if budget.provider else "at every provider"
        calendar = budget.window in CALENDAR
        period = f"this {budget.window}" if calendar else f"in the last {budget.window}"
        when = datetime.fromtimestamp(standing.resets_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        wait = max(1, math.ceil(standing.resets_at - self.now))
        return QuotaExceeded(
            f"Budget exhausted for API key '{self.key.name}': ${usd(standing.spent / NANO)} of "
            f"${usd(budget.usd)} spent {period} {where}. It resets at {when}.",
            headers={"Retry-After": str(wait)},
        )


class Budgets:
    """Reads and charges budget counters in the worker's shared state."""

    def __init__(self, state: SharedState, clock: Callable[[], float] = time.time) -> None:
        self.state = state
        self.clock = clock
        self._failing = False

    async def standing(self, key: ClientKey, redis_url: str | None) -> Allowance | None:
        """The key's budgets now; None when the store failed (the request is not held)."""
        now = self.clock()
        spans = [span(b.window, now) for b in key.budgets]
        names = [
            _counter(key, b, bucket)
            for b, s in zip(key.budgets, spans, strict=True)
            for bucket in s.buckets
        ]
        counters = await self.state.counters(redis_url)
        try:
            totals = await counters.totals(names)
        except CountersUnavailable as exc:
            self._unavailable(exc)
            return None
        self._available()
        standings, at = [], 0
        for budget, covered in zip(key.budgets, spans, strict=True):
            amounts = totals[at : at + len(covered.buckets)]
            at += len(covered.buckets)
            resets = covered.resets_at(amounts, nano(budget.usd))
            standings.append(Standing(budget, sum(amounts), resets))
        return Allowance(key, tuple(standings), now)

    async def charge(
        self, key: ClientKey, provider: str, amount: int, redis_url: str | None
    ) -> None:
        """Add `amount` (billionths of a dollar) to each of the key's budgets covering
        `provider`, in the slice of its window under way."""
        now = self.clock()
        covering = [b for b in key.budgets if b.provider in (None, provider)]
        if amount <= 0 or not covering:
            return
        spans = [span(b.window, now) for b in covering]
        increments = {
            _counter(key, b, s.buckets[-1]): amount for b, s in zip(covering, spans, strict=True)
        }
        counters = await self.state.counters(redis_url)
        try:
            await counters.add(increments, max(s.ttl for s in spans))
        except CountersUnavailable as exc:
            self._unavailable(exc)

    def _unavailable(self, exc: CountersUnavailable) -> None:
        if not self._failing:  # once per outage
            log.warning("budget counters unavailable, budgets not enforced: %s", exc)
        self._failing = True

    def _available(self) -> None:
        if self._failing:
            log.warning("budget counters reachable again, budgets enforced")
        self._failing = False


def _counter(key: ClientKey, budget: Budget, bucket: str) -> str:
    # Provider names hold no ':', buckets one: the key's name, last, cannot collide.
    return f"patchbay:budget:{budget.provider or '*'}:{bucket}:{key.name}"
