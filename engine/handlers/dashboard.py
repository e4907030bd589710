"""GET /dashboard and GET /dashboard/data: the gateway's traffic and health, live.

The page (templates/dashboard.html, templates/static/dashboard.js) polls the data every
few seconds and draws rates and quantiles from the difference of two readings. The
data are cumulative totals from the metrics every worker writes (`Metrics.families`),
so whichever worker answers, the counts are everyone's; requests to the dashboard's
own routes are left out of them. Reloads, cooldowns and shared state are the answering
worker's (every worker reads the same files).

Both routes are open while no admin key is set. With one, they want it as a bearer
token, as `x-admin-key`, or as the password of HTTP Basic auth, which is what a browser
can send when it navigates: the page answers a missing or wrong key with a Basic
challenge, the browser asks for the key and sends it with the page's polls too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from engine.errors import AuthenticationFailed
from engine.handlers.admin import is_admin
from engine.handlers.metrics import model_states, readings
from engine.http.messages import Request, Response
from engine.http.pages import HTML, PAGE_HEADERS, page_context, route_path, templates_dir
from engine.observe.totals import Totals
from engine.providers.base import Provider
from engine.snapshot.model import Snapshot
from engine.snapshot.templates import Pages

PAGE_HANDLER, DATA_HANDLER = "dashboard.page", "dashboard.data"
CHALLENGE = 'Basic realm="Patchbay dashboard", charset="UTF-8"'
POLL_SECONDS = 2.0  # how often the page asks for the data
WITHHELD = "(hidden while the dashboard is open to all: set auth.admin_key to see it here)"


class DashboardPage:
    """GET /dashboard: the page; its template is read once per worker."""

    def __init__(self) -> None:
        self.pages = Pages(templates_dir())

    async def __call__(self, req: Request) -> Response:
        admit(req, challenge=CHALLENGE)
        snapshot = req.snapshot
        context = {
            **page_context(snapshot),
            "data_url": route_path(snapshot, DATA_HANDLER, "GET"),
            "poll_ms": int(POLL_SECONDS * 1000),
            "poll_seconds": f"{POLL_SECONDS:g}",
        }
        text = self.pages.render("dashboard.html", context)
        return Response(text.encode(), content_type=HTML, headers=dict(PAGE_HEADERS))


def admit(req: Request, challenge: str) -> None:
    """Let the request through while no admin key is set, or when it carries it; else
    a 401 whose `WWW-Authenticate` is `challenge`."""
    if req.snapshot.settings.auth.admin_key and not is_admin(req, basic=True):
        raise AuthenticationFailed(
            "The dashboard needs the admin key: as a bearer token, as x-admin-key, or as "
            "the password of HTTP Basic auth (any user name).",
            headers={"WWW-Authenticate": challenge},
        )


async def data(req: Request) -> Response:
    """GET /dashboard/data: cumulative counts and the state of things now (see
    docs/dashboard.md for each field)."""
    admit(req, challenge="Bearer")
    snapshot, services = req.snapshot, req.services
    states = await model_states(req)
    families = services.metrics.families(await readings(req, states))
    totals = Totals().read(families, skip=own_routes(snapshot))
    status = services.live.status()
    document = {
        "time": time.time(),
        "pid": os.getpid(),
        "requests": {
            "total": totals.requests,
            "errors_5xx": totals.errors_5xx,
            "errors_4xx": totals.errors_4xx,
        },
        "duration_seconds": totals.duration.json(),
        "first_token_seconds": totals.first_token.json(),
        "tokens": totals.tokens,
        "providers": [
            provider_health(p, states.get(p.name, {}), totals.upstream.get(p.name, {}))
            for p in snapshot.providers.values()
        ],
        "shared_state": services.state.health(snapshot.settings.redis_url),
        "config": {
            "hash": snapshot.hash,
            "loaded_at": snapshot.loaded_at,
            "serving_last_good": status["serving_last_good"],
        },
        "reloads": {
            "counts": dict(services.live.reload_counts()),
            "history": _history(req),
        },
    }
    return Response.json(document, headers={"Cache-Control": "no-store"})


def own_routes(snapshot: Snapshot) -> frozenset[tuple[str, str]]:
    """The (route, method) label pairs of the dashboard's routes: its polls are not traffic."""
    return frozenset(
        (route.path, method)
        for route in snapshot.routes.routes
        if route.handler in (PAGE_HANDLER, DATA_HANDLER)
        for method in route.methods
    )


def provider_health(
    provider: Provider, models: Mapping[str, str], attempts: Mapping[str, int]
) -> dict[str, Any]:
    """One provider: its config status, its health (`cooling` while a model of it cools,
    else `failing` while one has recent failures, else `ok`; null while it is not
    active), its models by state, the unwell ones by name, and its upstream attempts
    by outcome."""
    counts = {"ok": 0, "cooling": 0, "failing": 0}
    unwell = {}
    for model, state in models.items():
        word = state.split(" ", 1)[0]  # "cooling (12 s left)"
        counts[word] = counts.get(word, 0) + 1
        if word != "ok":
            unwell[model] = state
    worst = next((w for w in ("cooling", "failing") if counts[w]), "ok")
    return {
        "name": provider.name,
        "kind": provider.kind,
        "status": provider.status,
        "health": worst if provider.active else None,
        "models": counts if provider.active else {"ok": 0, "cooling": 0, "failing": 0},
        "unwell": unwell if provider.active else {},
        "attempts": dict(attempts),
    }


def _history(req: Request) -> list[dict[str, Any]]:
    """The reload history; a rejected edit's problems are withheld while the dashboard is
    open to anyone on a gateway that otherwise wants client keys (as on the landing page)."""
    history = req.services.live.reload_history()
    auth = req.snapshot.settings.auth
    if auth.required and not auth.admin_key:
        for entry in history:
            entry["problems"] = [WITHHELD] if entry["problems"] else []
    return history
