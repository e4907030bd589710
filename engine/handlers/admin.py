"""POST /admin/reload, GET /admin/config and GET /admin/explain: the admin key guards
them; while it is unset, they are 404."""

from __future__ import annotations

import base64
import hmac
import os

from engine.errors import AuthenticationFailed, InvalidRequest, NotFound
from engine.http.messages import Request, Response
from engine.modeltypes import MODEL_TYPES
from engine.routing.explain import Explanation, explain_now
from engine.routing.explain import explain as explain_model
from engine.snapshot.describe import describe


def _require_admin(req: Request) -> None:
    if not req.snapshot.settings.auth.admin_key:
        raise NotFound("No route matches this path.")
    if not is_admin(req):
        raise AuthenticationFailed("The admin key is missing or wrong.")


def is_admin(req: Request, *, basic: bool = False) -> bool:
    """Whether the request carries the admin key: as a bearer token or `x-admin-key`, or
    (with `basic`, for pages a browser navigates to) as the password of HTTP Basic auth."""
    expected = req.snapshot.settings.auth.admin_key
    if not expected:
        return False
    scheme, space, credentials = req.headers.get("authorization", "").partition(" ")
    if space and scheme.lower() == "bearer":
        given = credentials
    elif space and basic and scheme.lower() == "basic":
        given = basic_password(credentials.strip())
    else:
        given = req.headers.get("x-admin-key", "")
    return hmac.compare_digest(given.encode(), expected.encode())


def basic_password(credentials: str) -> str:
    """The password of HTTP Basic `credentials` (base64 of `user:password`); "" when
    they do not decode."""
    try:
        decoded = base64.b64decode(credentials, validate=True).decode()
    except ValueError:  # not base64, or not UTF-8
        return ""
    return decoded.partition(":")[2]


async def reload(req: Request) -> Response:
    _require_admin(req)
    outcome = await req.services.live.reload()
    # A rejected edit is not a failed call: the outcome and last_error say what happened.
    return Response.json({"outcome": outcome, **_status(req)})


async def config(req: Request) -> Response:
    """Status, and `config`: what is served (`?variables=A,B` asks which are set)."""
    _require_admin(req)
    asked = [n for n in req.query().get("variables", "").split(",") if n]
    live = req.services.live
    view = describe(live.snapshot, live.environ, asked)
    return Response.json({**_status(req), "config": view})


async def explain(req: Request) -> Response:
    """How `?model=` resolves now (`&key=` a client key's name, `&type=` for `auto`), with
    the cooldowns this worker sees (every worker's, with redis_url)."""
    _require_admin(req)
    query = req.query()
    model = query.get("model", "")
    if not model:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    model_type = query.get("type", "chat")
    if model_type not in MODEL_TYPES:
        types = ", ".join(MODEL_TYPES)
        raise InvalidRequest(f"'type' is one of: {types}.", param="type")
    return Response.json(await _explained(req, model, query.get("key"), model_type))


async def _explained(req: Request, model: str, key: str | None, model_type: str) -> Explanation:
    """The explanation with cooldowns from where this worker keeps them; while Redis
    fails, they are not known (each worker counts in its own memory meanwhile)."""
    redis_url = req.snapshot.settings.redis_url
    state = req.services.state
    store = await state.cooldowns(redis_url)
    kept_in = "redis" if redis_url else "worker memory"
    explained = await explain_now(req.snapshot, store, kept_in, model, key, model_type)
    if redis_url and not state.health(redis_url)["ok"]:
        note = "Redis is failing; each worker counts failures in its own memory meanwhile"
        return explain_model(req.snapshot, model, key, model_type, cooldowns_note=note)
    return explained


def _status(req: Request) -> dict[str, object]:
    """The active snapshot's identity and the reloader's last word; never a secret."""
    live = req.services.live
    status = live.status()
    snapshot = live.snapshot  # the live one, which a reload may just have replaced
    return {
        "config_hash": snapshot.hash,
        "pid": os.getpid(),  # which worker answered, with --workers N
        "loaded_at": snapshot.loaded_at,
        "sources": list(snapshot.sources),
        **status,
        "providers": {name: p.status for name, p in snapshot.providers.items()},
    }
