"""Request + snapshot -> the target that serves it: the one place routing policy runs.

A plan's targets are tried in the order its strategy gives; each target gets
`defaults.retries` extra attempts. Only failures before the first byte are retried,
and only those the plan's `fallback_on` names; a client's own mistake never is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from engine.errors import GatewayError, InvalidRequest, NoProviderAvailable
from engine.guard import check_model
from engine.http import Request
from engine.providers.base import Call, ProviderKind
from engine.snapshot import ModelType, Plan, Target

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Served:
    """Who answered, after how many attempts: the x-patchbay-* response headers."""

    target: Target
    attempts: int

    def headers(self) -> dict[str, str]:
        return {
            "x-patchbay-provider": self.target.provider.name,
            "x-patchbay-model": self.target.model.id,
            "x-patchbay-attempts": str(self.attempts),
        }


def plan_for(req: Request, body: dict[str, Any], model_type: ModelType) -> Plan:
    """Resolve the body's `model` on the request's snapshot."""
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    plan = req.snapshot.resolve(name, model_type)
    if req.client_key is not None:
        check_model(req, name, plan)  # the client key's model allow-list
    return plan


async def dispatch(
    req: Request,
    plan: Plan,
    body: dict[str, Any],
    operation: Callable[[ProviderKind, Call], Awaitable[T]],
) -> tuple[T, Served]:
    """Run `operation` against the plan's targets until one succeeds."""
    retries = req.snapshot.policy.retries
    attempts = 0
    last: GatewayError | None = None
    for target in plan.targets:
        for _ in range(retries + 1):
            attempts += 1
            call = Call(req.runtime.upstream, target.provider, target.model, body)
            try:
                result = await operation(target.adapter, call)
            except GatewayError as err:
                if err.failure is None or err.failure not in plan.fallback_on:
                    raise
                last = err
                continue
            return result, Served(target, attempts)
    if last is not None:
        last.headers["x-patchbay-attempts"] = str(attempts)
        raise last
    raise NoProviderAvailable(f"No provider is available for '{plan.name}'.")
