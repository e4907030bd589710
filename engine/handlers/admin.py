"""POST /admin/reload and GET /admin/config: the admin key guards them; unset, they are 404."""

from __future__ import annotations

import hmac
import os

from engine.errors import AuthenticationFailed, NotFound
from engine.http.messages import Request, Response


def _require_admin(req: Request) -> None:
    expected = req.snapshot.settings.auth.admin_key
    if not expected:
        raise NotFound("No route matches this path.")
    header = req.headers.get("authorization", "")
    given = (
        header[7:] if header.lower().startswith("bearer ") else req.headers.get("x-admin-key", "")
    )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise AuthenticationFailed("The admin key is missing or wrong.")


async def reload(req: Request) -> Response:
    _require_admin(req)
    reloader = req.runtime.reloader
    outcome = await reloader.reload(force=True)
    # A rejected edit is not a failed call: the outcome and last_error say what happened.
    return Response.json({"outcome": outcome, **_status(req)})


async def config(req: Request) -> Response:
    _require_admin(req)
    return Response.json(_status(req))


def _status(req: Request) -> dict[str, object]:
    """The active snapshot's identity and the reloader's last word; never a secret."""
    runtime = req.runtime
    snapshot = runtime.snapshot  # the live one, which a reload may just have replaced
    status = runtime.reloader.status
    return {
        "config_hash": snapshot.hash,
        "pid": os.getpid(),  # which worker answered, with --workers N
        "loaded_at": snapshot.loaded_at,
        "sources": list(snapshot.sources),
        "config_dir": str(runtime.reloader.directory),
        "serving_last_good": status.from_last_good,
        "last_error": [snapshot.redact(error) for error in status.last_error] or None,
        "last_error_at": status.last_error_at,
        "last_attempt_at": status.last_attempt_at,
        "restart_needed": status.restart_needed,
        "reloads": status.reloads,
        "providers": {name: p.status for name, p in snapshot.providers.items()},
    }
