"""GET /metrics: Prometheus text exposition of the worker's (or all workers') series."""

from __future__ import annotations

from engine.http.messages import Request, Response
from engine.observe.metrics import CONTENT_TYPE


async def scrape(req: Request) -> Response:
    services = req.services
    body = services.metrics.scrape(services.live.reload_counts())
    return Response(body, content_type=CONTENT_TYPE)
