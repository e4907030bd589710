"""GET /metrics: Prometheus text exposition of the worker's (or all workers') series."""

from __future__ import annotations

from engine.http.messages import Request, Response
from engine.observe.metrics import CONTENT_TYPE


async def scrape(req: Request) -> Response:
    runtime = req.runtime
    body = runtime.metrics.scrape(runtime.reloader.status.reloads)
    return Response(body, content_type=CONTENT_TYPE)
