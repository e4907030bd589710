"""Cooldowns per deployment: a target (provider + upstream model) that keeps failing is
passed over while its plan has another target to try.

Failures of the classes the rule names (`cooldown.on`) count against the deployment;
only connection failures (refused, DNS, TLS) count against the whole provider, since
they say nothing about one model. A 429 with a Retry-After cools the deployment for
that long, up to the rule's `max_duration`. The counts live in the worker's shared
state (engine/stores), so with Redis every worker and instance agrees.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from engine.errors import GatewayError
from engine.providers.base import Provider
from engine.snapshot.model import Target
from engine.stores.base import Cooldown, Cooldowns


def deployment_key(provider: str, model: str) -> str:
    return f"deployment:{provider}/{model}"


def provider_key(provider: str) -> str:
    return f"provider:{provider}"


async def cooling(store: Cooldowns, target: Target) -> float:
    """Seconds until `target` may be tried again; 0 when it is not cooling."""
    name = target.provider.name
    return max(
        await store.cooling(deployment_key(name, target.model.id)),
        await store.cooling(provider_key(name)),
    )


async def record_failure(
    store: Cooldowns, target: Target, err: GatewayError, rule: Cooldown
) -> bool:
    """Count `err` against the deployment (or, for a connection failure, the provider);
    True when that started a cooldown."""
    if err.failure not in rule.on:
        return False
    name = target.provider.name
    hinted = err.headers.get("Retry-After", "")
    if err.failure == "429" and hinted.isdigit():
        seconds = min(float(hinted), rule.max_duration)
        return await store.cool(deployment_key(name, target.model.id), seconds)
    key = provider_key(name) if err.failure == "connect" else deployment_key(name, target.model.id)
    return await store.failed(key, rule)


async def health(store: Cooldowns, provider: Provider) -> dict[str, str]:
    """Each model of `provider`: `ok`, `cooling (N s left)` or `failing` (recent failures)."""
    whole = await store.cooling(provider_key(provider.name))
    return {
        model.id: await _state(store, provider.name, model.id, whole)
        for model in provider.models.values()
    }


async def target_health(store: Cooldowns, targets: Iterable[Target]) -> dict[str, str]:
    """The same state for each target, by `PROVIDER/MODEL`."""
    return {
        target.public_id: await _state(
            store,
            target.provider.name,
            target.model.id,
            await store.cooling(provider_key(target.provider.name)),
        )
        for target in targets
    }


async def _state(store: Cooldowns, provider: str, model: str, whole: float) -> str:
    """A deployment's state, given the seconds its whole provider still cools."""
    key = deployment_key(provider, model)
    left = max(whole, await store.cooling(key))
    if left > 0:
        return f"cooling ({math.ceil(left)} s left)"
    if await store.failures(key) or await store.failures(provider_key(provider)):
        return "failing"
    return "ok"
