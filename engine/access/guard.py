"""Who may call, what they may use, how often and for how much.

`Guard.run` wraps every routed handler: it authenticates the client key, admits the
request under its rate limits, reads its budgets (routing then refuses the priced
targets of a spent one) and settles the answer: cost, tokens, budgets, ledger. With
auth off and no limits set it only calls the handler and settles. `check_model`
enforces a key's model allow-list where the model name is resolved.
(`request_timeout` is the front door's: it runs from the request's arrival, body
included.)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from fnmatch import fnmatchcase

from engine.access.limits import Limiter, Quota
from engine.config.settings import Auth, ClientKey, RateLimit
from engine.errors import AuthenticationFailed, PermissionDenied, RateLimited
from engine.formats import OPENAI, WireFormat
from engine.http.messages import Handler, Request, Response, Stream
from engine.snapshot.model import Plan, Route
from engine.spend.budgets import Budgets
from engine.spend.meter import Meter, TokenCharge

# Probes, scrapes, the admin routes, the dashboard and the usage report (which check
# keys themselves) need no client key.
OPEN_HANDLERS = ("health.", "metrics.", "admin.", "dashboard.", "usage.")


def authenticate(
    headers: Mapping[str, str], auth: Auth, wire: WireFormat = OPENAI
) -> ClientKey | None:
    """The client key the request carries in `wire`'s header(s), or None for an anonymous
    client.

    Raises AuthenticationFailed when `auth.required` and the key is missing or unknown;
    when auth is optional an unknown key is simply anonymous (SDKs always send one).
    """
    token = wire.credential(headers)
    key = _find(token, auth.keys) if token else None
    if key is None and auth.required:
        message = "Incorrect API key provided." if token else wire.missing_credential()
        raise AuthenticationFailed(message, headers={"WWW-Authenticate": "Bearer"})
    return key


def _find(token: str, keys: tuple[ClientKey, ...]) -> ClientKey | None:
    if not token:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest().encode()
    found = None
    for key in keys:  # compare with every key, so timing says nothing about which matched
        if hmac.compare_digest(digest, key.sha256.encode()):
            found = key
    return found


def may_use(req: Request, name: str, plan: Plan) -> bool:
    """Whether the request's key may use `name` (see `key_may_use`)."""
    return key_may_use(req.client, name, plan)


def key_may_use(key: ClientKey | None, name: str, plan: Plan) -> bool:
    """Whether `key` may use `name`, which resolves to `plan`.

    A key with no `models` list may use every model. Otherwise the name asked for must
    match one of its patterns or aliases, or every model the name resolves to must.
    """
    if key is None or not key.models:
        return True
    return _allowed(name, key.models) or all(key_allows(key, t.public_id) for t in plan.targets)


def key_allows(key: ClientKey | None, model: str) -> bool:
    """Whether `model` (a PROVIDER/MODEL or alias name) is on `key`'s allow-list, if any."""
    return key is None or not key.models or _allowed(model, key.models)


def check_model(req: Request, name: str, plan: Plan) -> None:
    """Raise PermissionDenied unless the request's key may use `name` (see `may_use`)."""
    if may_use(req, name, plan):
        return
    raise PermissionDenied(
        f"The API key '{req.client.name if req.client else ''}' is not allowed to use the model '{name}'.",
        param="model",
        code="model_not_allowed",
    )


def _allowed(model: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(model, pattern) for pattern in patterns)


def quota_for(key: ClientKey | None, defaults: RateLimit, peer: str | None) -> Quota | None:
    """A key's own limits, else the defaults; anonymous clients are limited per IP address."""
    rpm = key.rpm if key is not None and key.rpm is not None else defaults.rpm
    tpm = key.tpm if key is not None and key.tpm is not None else defaults.tpm
    if rpm is None and tpm is None:
        return None
    who = f"key:{key.name}" if key is not None else f"ip:{peer or 'unknown'}"
    return Quota(who, rpm, tpm)


class Guard:
    """Runs handlers under the request snapshot's auth, rate limits and budgets, and
    settles what each answer cost (engine/spend/meter.py)."""

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter
        self.budgets = Budgets(limiter.state)
        self.meter = Meter(self.budgets)

    async def run(
        self, req: Request, route: Route, handler: Handler, peer: str | None
    ) -> Response | Stream:
        if route.handler.startswith(OPEN_HANDLERS):
            return await handler(req)
        settings = req.snapshot.settings
        auth, defaults = settings.auth, settings.rate_limit
        if not (auth.required or auth.keys or defaults.rpm or defaults.tpm):
            return await self.meter.settle(req, await handler(req), route.wire)
        key = authenticate(req.headers, auth, route.wire)
        req.client = key
        if key is not None:
            req.exchange.key = key.name
        quota = quota_for(key, defaults, peer)
        try:
            headers = await self.limiter.admit(quota, settings.redis_url) if quota else {}
        except RateLimited:
            req.exchange.rate_limited = True
            raise
        allowance = None
        if key is not None and key.budgets:
            allowance = req.allowance = await self.budgets.standing(key, settings.redis_url)
        reply = await handler(req)
        reply.headers.update(headers)
        tokens = self._tokens(quota, settings.redis_url) if quota and quota.tpm else None
        return await self.meter.settle(req, reply, route.wire, allowance=allowance, tokens=tokens)

    def _tokens(self, quota: Quota, redis_url: str | None) -> TokenCharge:
        """Charges an answer's tokens to the client's minute (a stream's when it ends)."""

        async def charge(tokens: int) -> None:
            await self.limiter.charge(quota, tokens, redis_url)

        return charge
