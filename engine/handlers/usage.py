"""GET /v1/usage: spend and tokens by client key, model and day, from the usage ledger.

The admin key sees every key (`?key=NAME` narrows it to one); a client key sees its own,
with its budgets' standing. `start` and `end` (YYYY-MM-DD, UTC, inclusive) default to
the month so far. With neither an admin key nor client keys configured it answers 404,
as the admin routes do.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from engine.access.guard import authenticate
from engine.config.settings import ClientKey
from engine.errors import AuthenticationFailed, InvalidRequest, NotFound
from engine.handlers.admin import is_admin
from engine.http.messages import Request, Response
from engine.providers.prices import NANO, usd
from engine.spend.budgets import Budgets
from engine.spend.ledger import report

MAX_DAYS = 366


async def usage_report(req: Request) -> Response:
    auth = req.snapshot.settings.auth
    if not auth.admin_key and not auth.keys:
        raise NotFound("No route matches this path.")
    query = req.query()
    admin = is_admin(req)
    key = None if admin else authenticate(req.headers, auth)
    if not admin and key is None:
        raise AuthenticationFailed("Send the admin key, or a client key to see its own usage.")
    name = query.get("key") if admin else key.name if key else None
    start, end = _range(query)
    ledger = await req.services.state.ledger(req.snapshot.settings.redis_url)
    rows = await report(ledger, start, end, name, everyone=admin and name is None)
    costs = [row["cost_usd"] for row in rows if row["cost_usd"] is not None]
    answer: dict[str, Any] = {
        "object": "list",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "key": name,
        "data": rows,
        "total_cost_usd": sum(costs) if costs or not rows else None,
    }
    shown = key or next((k for k in auth.keys if k.name == name), None)
    if shown is not None and shown.budgets:
        answer["budgets"] = await _budgets(req, shown)
    return Response.json(answer)


def _range(query: dict[str, str]) -> tuple[date, date]:
    today = datetime.now(UTC).date()
    start = _day(query, "start", today.replace(day=1))
    end = _day(query, "end", today)
    if end < start:
        raise InvalidRequest("'end' is before 'start'.", param="end")
    if (end - start) >= timedelta(days=MAX_DAYS):
        raise InvalidRequest(f"At most {MAX_DAYS} days at a time.", param="start")
    return start, end


def _day(query: dict[str, str], name: str, default: date) -> date:
    given = query.get(name)
    if given is None:
        return default
    try:
        return date.fromisoformat(given)
    except ValueError:
        raise InvalidRequest(f"'{name}' is a day written YYYY-MM-DD.", param=name) from None


async def _budgets(req: Request, key: ClientKey) -> list[dict[str, Any]]:
    allowance = await Budgets(req.services.state).standing(key, req.snapshot.settings.redis_url)
    if allowance is None:
        return []
    return [
        {
            "usd": s.budget.usd,
            "window": s.budget.window,
            "provider": s.budget.provider,
            "spent_usd": float(usd(s.spent / NANO)),
            "exhausted": s.exhausted,
            "resets_at": datetime.fromtimestamp(s.resets_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for s in allowance.standings
    ]
