"""POST /admin/reload, GET /admin/config and GET /admin/explain: the admin key guards
them; while it is unset, they are 404."""

from __future__ import annotations

import hmac
import os
from typing import cast, get_args

from engine.describe import describe
from engine.errors import AuthenticationFailed, InvalidRequest, NotFound
from engine.explain import explain as explain_model
from engine.http import Request, Response
from engine.snapshot import ModelType


def _require_admin(req: Request) -> None:
    expected = req.snapshot.settings.auth.admin_key
    if not expected:
        raise NotFound("No route matches this path.")
    header = req.headers.get("authorization", "")
    given = (
        header[7:] if header.lower().startswith("bearer ") else req.headers.get("x-admin-key", "")
    )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise AuthenticationFailed("The admin key is missing or wrong.")


async def reload(req: Request) -> Response:
    _require_admin(req)
    reloader = req.runtime.reloader
    outcome = await reloader.reload(force=True)
    # A rejected edit is not a failed call: the outcome and last_error say what happened.
    return Response.json({"outcome": outcome, **_status(req)})


async def config(req: Request) -> Response:
    """Status, and `config`: what is served (`?variables=A,B` asks which are set)."""
    _require_admin(req)
    asked = [n for n in req.query().get("variables", "").split(",") if n]
    snapshot = req.runtime.snapshot
    view = describe(snapshot, req.runtime.reloader.environ, asked)
    return Response.json({**_status(req), "config": view})


async def explain(req: Request) -> Response:
    """How `?model=` resolves now (`&key=` a client key's name, `&type=` for `auto`)."""
    _require_admin(req)
    query = req.query()
    model = query.get("model", "")
    if not model:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    model_type = query.get("type", "chat")
    if model_type not in get_args(ModelType):
        types = ", ".join(get_args(ModelType))
        raise InvalidRequest(f"'type' is one of: {types}.", param="type")
    explained = explain_model(req.snapshot, model, query.get("key"), cast(ModelType, model_type))
    return Response.json(explained)


def _status(req: Request) -> dict[str, object]:
    """The active snapshot's identity and the reloader's last word; never a secret."""
    runtime = req.runtime
    snapshot = runtime.snapshot  # the live one, which a reload may just have replaced
    status = runtime.reloader.status
    return {
        "config_hash": snapshot.hash,
        "pid": os.getpid(),  # which worker answered, with --workers N
        "loaded_at": snapshot.loaded_at,
        "sources": list(snapshot.sources),
        "config_dir": str(runtime.reloader.directory),
        "serving_last_good": status.from_last_good,
        "last_error": status.last_error or None,
        "last_error_at": status.last_error_at,
        "last_attempt_at": status.last_attempt_at,
        "restart_needed": status.restart_needed,
        "reloads": status.reloads,
        "providers": {name: p.status for name, p in snapshot.providers.items()},
    }
