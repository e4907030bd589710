"""GET /metrics: Prometheus text exposition of the worker's (or all workers') series."""

from __future__ import annotations

from collections.abc import Mapping

from engine.http.messages import Request, Response
from engine.observe.metrics import CONTENT_TYPE
from engine.observe.readings import Readings
from engine.routing.cooldowns import health

ModelStates = Mapping[str, Mapping[str, str]]  # provider -> model -> ok, cooling (...), failing


async def scrape(req: Request) -> Response:
    body = req.services.metrics.scrape(await readings(req))
    return Response(body, content_type=CONTENT_TYPE)


async def model_states(req: Request) -> ModelStates:
    """Each provider's models as cooldowns see them (engine/routing/cooldowns.py `health`)."""
    store = await req.services.state.cooldowns(req.snapshot.settings.redis_url)
    return {p.name: await health(store, p) for p in req.snapshot.providers.values()}


async def readings(req: Request, states: ModelStates | None = None) -> Readings:
    """What the series read off this worker: reloads, the config, shared state, cooldowns
    (from `states` when the caller has them already)."""
    services, snapshot = req.services, req.snapshot
    shared = services.state.health(snapshot.settings.redis_url)
    if states is None:
        states = await model_states(req)
    cooling = {
        provider: sum(state.startswith("cooling") for state in models.values())
        for provider, models in states.items()
    }
    return Readings(
        reloads=services.live.reload_counts(),
        config_hash=snapshot.hash[:12],
        loaded_at=snapshot.loaded_at,
        shared_state_up=bool(shared["ok"]),
        shared_state_failing_since=shared["failing_since"],
        cooling=cooling,
    )
