"""CORS for browser clients, from the `cors_origins` allow-list.

A listed origin is echoed back (with `Vary: Origin`) and may send credentials. `"*"`
answers any other origin with a literal `*` and never with credentials, a pair that
browsers refuse. Preflights (OPTIONS carrying Access-Control-Request-Method) are
answered here, before routing, so a POST-only route still passes its preflight; a
preflight from an origin not on the list gets 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from engine.errors import PermissionDenied
from engine.http.messages import Response
from engine.http.rendering import render_error

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]

ALLOW_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
# Headers a browser script may read besides the CORS-safelisted ones.
EXPOSE_HEADERS = ", ".join(
    (
        "x-request-id",
        "x-patchbay-provider",
        "x-patchbay-model",
        "x-patchbay-attempts",
        "x-patchbay-cost",
        "x-patchbay-cache",
        "x-patchbay-key-spend",
        "age",
        "retry-after",
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
    )
)
MAX_AGE = "600"  # seconds a browser may cache a preflight answer


def cors_gate(
    scope: MutableMapping[str, Any], send: Send, origins: tuple[str, ...]
) -> tuple[Send, Response | None]:
    """The `send` to use for this request, and the answer when it is a preflight.

    Requests without an Origin header, or from an origin not on the list, pass as they are.
    """
    headers = dict(scope["headers"])
    origin = headers.get(b"origin")
    if origin is None:
        return send, None
    grant = _grant(origin.decode("latin-1"), origins)
    if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
        return send, _preflight(grant, headers.get(b"access-control-request-headers"))
    if not grant:
        return send, None
    exposed = (b"access-control-expose-headers", EXPOSE_HEADERS.encode())
    return _with_headers(send, [*grant, exposed]), None


def _grant(origin: str, origins: tuple[str, ...]) -> list[tuple[bytes, bytes]]:
    """The Allow-Origin (and credentials) headers for `origin`; empty when it is not allowed."""
    wanted = origin.rstrip("/").lower()
    if any(o.rstrip("/").lower() == wanted for o in origins if o != "*"):
        return [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin"),
        ]
    if "*" in origins:
        return [(b"access-control-allow-origin", b"*")]
    return []


def _preflight(grant: list[tuple[bytes, bytes]], requested: bytes | None) -> Response:
    if not grant:
        err = PermissionDenied(
            "This origin is not allowed by cors_origins.", code="cors_origin_not_allowed"
        )
        return render_error(err)
    headers = {k.decode(): v.decode("latin-1") for k, v in grant}
    headers["access-control-allow-methods"] = ALLOW_METHODS
    if requested:
        headers["access-control-allow-headers"] = requested.decode("latin-1")
    headers["access-control-max-age"] = MAX_AGE
    headers["vary"] = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
    return Response(b"", 204, headers, content_type="text/plain")


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return wrapped
