"""GET /health (the process answers) and GET /ready (a snapshot is loaded).

/ready stays ready while Redis is unreachable: the gateway serves on local state then
(as its limits and cooldowns already do), and marking every instance unready at once
would take the whole service out of its load balancer. Its body says how shared state
is doing and since when it fails, for operators to alert on (as does
`patchbay_shared_state_up`).
"""

from __future__ import annotations

from engine.http.messages import Request, Response


async def live(req: Request) -> Response:
    return Response.json({"status": "ok"})


async def ready(req: Request) -> Response:
    snapshot = req.snapshot
    shared = req.services.state.health(snapshot.settings.redis_url)
    return Response.json(
        {"status": "ready", "config_hash": snapshot.hash[:12], "shared_state": shared}
    )
