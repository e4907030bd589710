"""POST /admin/reload and GET /admin/config: the admin key guards them; unset, they are 404."""

from __future__ import annotations

import hmac
import os

from engine.errors import AuthenticationFailed, NotFound
from engine.http.messages import Request, Response


def _require_admin(req: Request) -> None:
    if not req.snapshot.settings.auth.admin_key:
        raise NotFound("No route matches this path.")
    if not is_admin(req):
        raise AuthenticationFailed("The admin key is missing or wrong.")


def is_admin(req: Request) -> bool:
    """Whether the request carries the admin key (as a bearer token or `x-admin-key`)."""
    expected = req.snapshot.settings.auth.admin_key
    if not expected:
        return False
    header = req.headers.get("authorization", "")
    given = (
        header[7:] if header.lower().startswith("bearer ") else req.headers.get("x-admin-key", "")
    )
    return hmac.compare_digest(given.encode(), expected.encode())


async def reload(req: Request) -> Response:
    _require_admin(req)
    outcome = await req.services.live.reload()
    # A rejected edit is not a failed call: the outcome and last_error say what happened.
    return Response.json({"outcome": outcome, **_status(req)})


async def config(req: Request) -> Response:
    _require_admin(req)
    return Response.json(_status(req))


def _status(req: Request) -> dict[str, object]:
    """The active snapshot's identity and the reloader's last word; never a secret."""
    live = req.services.live
    status = live.status()
    snapshot = live.snapshot  # the live one, which a reload may just have replaced
    return {
        "config_hash": snapshot.hash,
        "pid": os.getpid(),  # which worker answered, with --workers N
        "loaded_at": snapshot.loaded_at,
        "sources": list(snapshot.sources),
        **status,
        "providers": {name: p.status for name, p in snapshot.providers.items()},
    }
