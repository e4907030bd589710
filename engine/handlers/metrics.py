"""GET /metrics: Prometheus text exposition of the worker's (or all workers') series."""

from __future__ import annotations

from engine.http.messages import Request, Response
from engine.observe.metrics import CONTENT_TYPE, Readings
from engine.routing.cooldowns import health


async def scrape(req: Request) -> Response:
    body = req.services.metrics.scrape(await readings(req))
    return Response(body, content_type=CONTENT_TYPE)


async def readings(req: Request) -> Readings:
    """What the series read off this worker: reloads, the config, shared state, cooldowns."""
    services, snapshot = req.services, req.snapshot
    redis_url = snapshot.settings.redis_url
    shared = services.state.health(redis_url)
    store = await services.state.cooldowns(redis_url)
    cooling = {}
    for provider in snapshot.providers.values():
        states = await health(store, provider)
        cooling[provider.name] = sum(state.startswith("cooling") for state in states.values())
    return Readings(
        reloads=services.live.reload_counts(),
        config_hash=snapshot.hash[:12],
        loaded_at=snapshot.loaded_at,
        shared_state_up=bool(shared["ok"]),
        shared_state_failing_since=shared["failing_since"],
        cooling=cooling,
    )
