"""GET /v1/models, /v1/models/{model:path} and /v1/providers, read from the snapshot.

A model type, as a route's fixed argument (`with: {type: speech}`, e.g. /v1/TTS/models)
or as `?type=speech`, narrows either listing to that type's models.

A request with `anthropic-version` (Anthropic's SDKs always send it) gets Anthropic's
shapes: model objects with `display_name` and `created_at`, and a list paged by
`limit`, `after_id` and `before_id`.
"""

from __future__ import annotations

import datetime
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from engine.access.guard import may_use
from engine.errors import InvalidRequest
from engine.http.messages import Request, Response
from engine.modeltypes import MODEL_TYPES
from engine.routing.cooldowns import health
from engine.snapshot.model import Snapshot

ANTHROPIC_PAGE = (20, 1000)  # Anthropic's default and largest `limit`


def _model_object(snapshot: Snapshot, model_id: str) -> dict[str, Any]:
    alias = snapshot.aliases.get(model_id)
    owner = "patchbay" if alias is not None else model_id.split("/", 1)[0]
    created = int(snapshot.loaded_at)
    return {"id": model_id, "object": "model", "created": created, "owned_by": owner}


def _visible(req: Request, model_type: str | None = None) -> list[str]:
    """The served ids this request's client key may use (all of them without a key),
    of `model_type` when given."""
    snapshot = req.snapshot
    ids = snapshot.model_ids()
    if model_type is not None:
        ids = [m for m in ids if snapshot.plans[m].targets[0].model.type == model_type]
    if req.client is None:
        return ids
    return [m for m in ids if may_use(req, m, snapshot.plans[m])]


def _model_type(req: Request) -> str | None:
    """The type the listing is narrowed to: the route's `with: {type}`, else `?type=`."""
    # Blank values kept: `?type=` names no type, and is refused like any other non-type.
    query = parse_qsl(req.query_string.decode("latin-1"), keep_blank_values=True)
    asked = dict(query).get("type") if req.query_string else None
    if asked is not None and asked not in MODEL_TYPES:
        raise InvalidRequest(
            f"type {asked!r} is not a model type; use one of {', '.join(MODEL_TYPES)}.",
            param="type",
        )
    fixed = req.args.get("type")
    return fixed if isinstance(fixed, str) else asked


def _anthropic_model(snapshot: Snapshot, model_id: str) -> dict[str, Any]:
    created = datetime.datetime.fromtimestamp(int(snapshot.loaded_at), datetime.UTC)
    return {
        "type": "model",
        "id": model_id,
        "display_name": model_id,
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "lifecycle": "active",  # only served models are listed
    }


def _anthropic_page(ids: list[str], query: dict[str, str]) -> list[str]:
    """The ids `limit`, `after_id` and `before_id` ask for (Anthropic's paging)."""
    default, most = ANTHROPIC_PAGE
    raw = query.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise InvalidRequest(f"limit must be an integer from 1 to {most}.", param="limit")
    limit = int(raw)
    for name in ("after_id", "before_id"):
        if name in query and query[name] not in ids:
            raise InvalidRequest(f"{name} {query[name]!r} is not a listed model.", param=name)
    if "before_id" in query:
        end = ids.index(query["before_id"])
        return ids[max(0, end - limit) : end]
    start = ids.index(query["after_id"]) + 1 if "after_id" in query else 0
    return ids[start : start + limit]


def _anthropic_list(snapshot: Snapshot, ids: list[str], query: dict[str, str]) -> dict[str, Any]:
    page = _anthropic_page(ids, query)
    more = bool(page) and (ids[-1] != page[-1] if "before_id" not in query else ids[0] != page[0])
    return {
        "data": [_anthropic_model(snapshot, model_id) for model_id in page],
        "has_more": more,
        "first_id": page[0] if page else None,
        "last_id": page[-1] if page else None,
    }


async def list_models(req: Request) -> Response:
    snapshot = req.snapshot
    visible = _visible(req, _model_type(req))
    if req.headers.get("anthropic-version"):
        return Response.json(_anthropic_list(snapshot, visible, req.query()))
    data = [_model_object(snapshot, model_id) for model_id in visible]
    return Response.json({"object": "list", "data": data})


async def get_model(req: Request) -> Response:
    model_id = req.params["model"]
    snapshot = req.snapshot
    visible = _visible(req)
    if model_id not in visible:
        plan = snapshot.plans.get(model_id)
        if plan is None:
            raise snapshot.not_found(model_id)  # with suggestions, and why when known
        # Served, but not to this client key: to it the model does not exist.
        raise snapshot.not_found(model_id, plan.targets[0].model.type, among=visible)
    if req.headers.get("anthropic-version"):
        return Response.json(_anthropic_model(snapshot, model_id))
    return Response.json(_model_object(snapshot, model_id))


async def list_providers(req: Request) -> Response:
    """Every declared provider; an active one with each model's health (ok, cooling, failing).
    Narrowed to a model type, the providers that declare models of it, with those alone."""
    live = req.services.live
    model_type = _model_type(req)
    cooldowns = await req.services.state.cooldowns(req.snapshot.settings.redis_url)
    data = []
    for provider in req.snapshot.providers.values():
        if model_type is not None:
            models = {k: m for k, m in provider.models.items() if m.type == model_type}
            if not models:
                continue
            provider = replace(provider, models=models)
        entry = provider.public()
        if provider.discover:
            entry["discovery_error"] = live.discovery_error(provider.name)
        if provider.active:
            entry["health"] = await health(cooldowns, provider)
        data.append(entry)
    return Response.json({"object": "list", "data": data})
