"""Routing strategies: the order a plan's targets are tried in, one class each.

A strategy is registered under its `name`, which providers.yaml names in an alias's
`strategy` (the schema's enum is checked against STRATEGIES by the tests). Whatever
the order, the targets after the first remain fallbacks.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import ClassVar, Protocol

from engine.registry import registry
from engine.snapshot.model import Plan, Target
from engine.stores.traffic import Traffic


class Strategy(Protocol):
    name: ClassVar[str]

    def order(self, plan: Plan, traffic: Traffic) -> list[Target]:
        """The plan's targets (two or more) in the order to try them for this request."""
        ...


class Fallback:
    """As declared: the first target, then the next on failure."""

    name: ClassVar[str] = "fallback"

    def order(self, plan: Plan, traffic: Traffic) -> list[Target]:
        return list(plan.targets)


class RoundRobin:
    """Each request starts one target further along than the last."""

    name: ClassVar[str] = "round_robin"

    def order(self, plan: Plan, traffic: Traffic) -> list[Target]:
        targets = list(plan.targets)
        start = traffic.turns[plan.name] % len(targets)
        traffic.turns[plan.name] += 1
        return targets[start:] + targets[:start]


class LeastBusy:
    """Fewest requests in flight in this worker first."""

    name: ClassVar[str] = "least_busy"

    def order(self, plan: Plan, traffic: Traffic) -> list[Target]:
        return sorted(plan.targets, key=lambda t: traffic.in_flight[t.public_id])


class Weighted:
    """Drawn by weight without replacement, so the others remain as fallbacks."""

    name: ClassVar[str] = "weighted"

    def order(self, plan: Plan, traffic: Traffic) -> list[Target]:
        pool = list(zip(plan.targets, plan.weights, strict=True))
        ordered = []
        while pool:
            pick = traffic.random.choices(range(len(pool)), weights=[w for _, w in pool])[0]
            ordered.append(pool.pop(pick)[0])
        return ordered


STRATEGIES: Mapping[str, Strategy] = registry(
    (Fallback(), RoundRobin(), LeastBusy(), Weighted()), lambda s: s.name, "routing strategy"
)


def order(plan: Plan, traffic: Traffic) -> list[Target]:
    """The plan's targets in the order its strategy gives for this request."""
    if len(plan.targets) < 2:
        return list(plan.targets)
    return STRATEGIES[plan.strategy].order(plan, traffic)


def backoff(
    attempt: int, initial: float, ceiling: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry number `attempt` (1-based): exponential, full jitter."""
    return (rng or random).uniform(0, min(ceiling, initial * 2 ** (attempt - 1)))
