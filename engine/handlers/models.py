"""GET /v1/models, /v1/models/{model:path} and /v1/providers, read from the snapshot."""

from __future__ import annotations

from typing import Any

from engine.access.guard import may_use
from engine.http.messages import Request, Response
from engine.routing.cooldowns import health
from engine.snapshot.model import Snapshot


def _model_object(snapshot: Snapshot, model_id: str) -> dict[str, Any]:
    alias = snapshot.aliases.get(model_id)
    owner = "patchbay" if alias is not None else model_id.split("/", 1)[0]
    created = int(snapshot.loaded_at)
    return {"id": model_id, "object": "model", "created": created, "owned_by": owner}


def _visible(req: Request) -> list[str]:
    """The served ids this request's client key may use (all of them without a key)."""
    snapshot = req.snapshot
    ids = snapshot.model_ids()
    if req.client is None:
        return ids
    return [m for m in ids if may_use(req, m, snapshot.plans[m])]


async def list_models(req: Request) -> Response:
    snapshot = req.snapshot
    data = [_model_object(snapshot, model_id) for model_id in _visible(req)]
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
    return Response.json(_model_object(snapshot, model_id))


async def list_providers(req: Request) -> Response:
    """Every declared provider; an active one with each model's health (ok, cooling, failing)."""
    live = req.services.live
    cooldowns = await req.services.state.cooldowns(req.snapshot.settings.redis_url)
    data = []
    for provider in req.snapshot.providers.values():
        entry = provider.public()
        if provider.discover:
            entry["discovery_error"] = live.discovery_error(provider.name)
        if provider.active:
            entry["health"] = await health(cooldowns, provider)
        data.append(entry)
    return Response.json({"object": "list", "data": data})
