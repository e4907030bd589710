"""Request + snapshot -> the target that serves it: the one place routing policy runs.

A plan's targets are tried in the order its strategy gives (engine/routing/strategies.py),
less those a spent budget of the client key refuses (priced models only, see
engine/spend/budgets.py); each target gets `defaults.retries` extra attempts. Only failures before the first byte are
retried, and only those the plan's `fallback_on` names; a client's own mistake (and any
upstream 4xx but 429) never is. Each target is sent the body under its own parameter
policy (engine/routing/params.py) and the client headers its provider forwards.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from engine.access.guard import check_model
from engine.errors import GatewayError, InvalidRequest, NoProviderAvailable, UpstreamTimeout
from engine.http.deadlines import DeadlinePassed
from engine.http.messages import Request
from engine.observe.exchange import UNKNOWN_MODEL, Attempt, Exchange, Trace
from engine.providers.base import NO_HEADERS, Call, ProviderKind
from engine.routing.cooldowns import cooling, record_failure
from engine.routing.params import apply_params, name_dropped
from engine.routing.strategies import backoff, order
from engine.snapshot.model import Plan, Policy, Target

T = TypeVar("T")
REQUEST_ID_HEADER = "x-request-id"
MODEL_LOGGED = 256  # characters of the model name asked for that the access log keeps


@dataclass(frozen=True, slots=True)
class Served:
    """Who answered, after how many attempts, and which of the client's fields its
    parameter policy dropped: the x-patchbay-* response headers."""

    target: Target
    attempts: int
    dropped: tuple[str, ...] = ()

    def headers(self) -> dict[str, str]:
        headers = {
            "x-patchbay-provider": self.target.provider.name,
            "x-patchbay-model": self.target.model.id,
            "x-patchbay-attempts": str(self.attempts),
        }
        name_dropped(headers, self.dropped)
        return headers


def plan_for(req: Request, body: dict[str, Any], model_type: str) -> Plan:
    """Resolve the body's `model` on the request's snapshot."""
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    exchange = req.exchange
    exchange.model_asked, exchange.plan = name[:MODEL_LOGGED], UNKNOWN_MODEL
    plan = req.snapshot.resolve(name, model_type)
    exchange.plan = plan.name
    if req.client is not None:
        check_model(req, name, plan)  # the client key's model allow-list
    return plan


async def dispatch(
    req: Request,
    plan: Plan,
    body: dict[str, Any],
    operation: Callable[[ProviderKind, Call], Awaitable[T]],
    *,
    counts_failures: bool = True,
) -> tuple[T, Served]:
    """Run `operation` against the plan's targets, in strategy order, until one succeeds.

    Cooling targets are passed over when the plan has others (a single target is
    always tried); retries of one target wait an exponential, jittered backoff;
    everything together stays inside `defaults.deadline`. Failures count toward
    cooldowns (engine/routing/cooldowns.py) unless `counts_failures` is False, for
    side requests that only ask about the upstream (token counts): their failures say
    nothing about serving, and cooldowns are not consulted for them either.
    """
    policy = req.snapshot.policy
    services = req.services
    cooldowns = await services.state.cooldowns(req.snapshot.settings.redis_url)
    exchange = req.exchange
    attempts = 0
    last: GatewayError | None = None
    refused: GatewayError | None = None  # by a spent budget of the client key
    cooling_for = 0.0
    try:
        with services.deadlines.within(policy.deadline):
            for target in order(plan, services.traffic):
                if req.allowance is not None and (no := req.allowance.refuses(target)):
                    refused = no
                    continue
                consult = counts_failures and len(plan.targets) > 1
                wait = await cooling(cooldowns, target) if consult else 0.0
                if wait > 0:
                    cooling_for = max(cooling_for, wait)
                    continue
                if last is not None:
                    exchange.fallbacks += 1  # a failure moved the request on to this target
                call, dropped = _call(req, target, body)
                for retry in range(policy.retries + 1):
                    if retry:
                        exchange.retries += 1
                        await asyncio.sleep(_pause(retry, policy, last))
                    attempts += 1
                    attempt = Attempt(target.provider.name, target.public_id, 0.0, "ok")
                    sent = _traced(call, exchange.trace, attempt)
                    began = time.perf_counter()
                    try:
                        with services.traffic.busy(target.public_id):
                            result = await operation(target.adapter, sent)
                    except GatewayError as err:
                        attempt.seconds = time.perf_counter() - began
                        attempt.outcome = err.failure or "client_error"
                        _attempted(exchange, attempt)
                        name_dropped(err.headers, dropped)
                        if err.failure is None or err.failure == "4xx":
                            raise  # the client's own request is at fault: never fall through
                        if counts_failures:
                            rule = policy.cooldown
                            attempt.cooled = await record_failure(cooldowns, target, err, rule)
                        if err.failure not in plan.fallback_on:
                            raise
                        last = err
                        continue
                    attempt.seconds = time.perf_counter() - began
                    _attempted(exchange, attempt)
                    exchange.served_by(attempt.provider, attempt.model)
                    return result, Served(target, attempts, dropped)
    except DeadlinePassed:
        raise UpstreamTimeout(
            f"No provider answered '{plan.name}' within the {policy.deadline:g} s deadline.",
            headers={"x-patchbay-attempts": str(attempts)},
        ) from None
    if last is not None:
        last.headers["x-patchbay-attempts"] = str(attempts)
        raise last
    if refused is not None:
        raise refused
    raise NoProviderAvailable(
        f"Every provider for '{plan.name}' is cooling down after repeated failures.",
        headers={"Retry-After": str(max(1, math.ceil(cooling_for)))},
    )


def _call(req: Request, target: Target, body: dict[str, Any]) -> tuple[Call, tuple[str, ...]]:
    """The call to `target`, and the client's fields its parameter policy dropped.

    The request id goes upstream with every call, so that a request can be followed
    into the provider's logs."""
    sent, dropped = apply_params(target.params, body)
    provider = target.provider
    forwarded = provider.forwarded(req.headers) if provider.forward else NO_HEADERS
    headers = {**forwarded, REQUEST_ID_HEADER: req.request_id}
    return Call(req.services.upstream, provider, target.model, sent, headers), dropped


def _traced(call: Call, trace: Trace | None, attempt: Attempt) -> Call:
    """`call`, with the headers that carry the attempt's span upstream while tracing."""
    if trace is None:
        return call
    carried = trace.begin_attempt(attempt.provider, attempt.model)
    return dataclasses.replace(call, headers={**call.headers, **carried})


def _attempted(exchange: Exchange, attempt: Attempt) -> None:
    exchange.attempts.append(attempt)
    if exchange.trace is not None:
        exchange.trace.end_attempt(attempt)


def _pause(retry: int, policy: Policy, last: GatewayError | None) -> float:
    """Backoff before a retry; an upstream's Retry-After wins when it is within bounds."""
    hinted = last.headers.get("Retry-After", "") if last is not None else ""
    if hinted.isdigit() and int(hinted) <= policy.backoff_max:
        return float(hinted)
    return backoff(retry, policy.backoff_initial, policy.backoff_max)
