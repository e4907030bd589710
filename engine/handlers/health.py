"""GET /health (the process answers) and GET /ready (a snapshot is loaded)."""

from __future__ import annotations

from engine.http.messages import Request, Response


async def live(req: Request) -> Response:
    return Response.json({"status": "ok"})


async def ready(req: Request) -> Response:
    snapshot = req.snapshot
    return Response.json({"status": "ready", "config_hash": snapshot.hash[:12]})
