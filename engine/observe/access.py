"""The access log: one line per routed request, read off its Exchange.

Text for people (`POST /v1/chat/completions 200 84.2ms id=... key=... model=...`), and
with `log_format: json` the same fields as one object (engine/observe/logs.py). Only
the key's name is ever written, never the key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from engine.observe.exchange import Exchange

log = logging.getLogger("patchbay.access")


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def access_fields(ex: Exchange, path: str, seconds: float) -> dict[str, Any]:
    """Every field of the line, in the order the text shows them (None: not known)."""
    tokens = ex.tokens
    settled = ex.provider and (tokens.prompt or tokens.completion)
    return {
        "method": ex.method,
        "path": path,
        "status": ex.status,
        "ms": _ms(seconds),
        "id": ex.request_id,
        "route": ex.route,
        "key": ex.key or None,
        "model": ex.model_asked or None,
        "provider": ex.provider or None,
        "served": ex.model or None,
        "attempts": len(ex.attempts) if ex.model_asked else None,
        "upstream_ms": _ms(ex.upstream_seconds) if ex.attempts else None,
        "ttft_ms": _ms(ex.first_token) if ex.first_token is not None else None,
        "prompt_tokens": tokens.prompt if settled else None,
        "completion_tokens": tokens.completion if settled else None,
    }


def write_access(ex: Exchange, path: str, seconds: float, notes: Mapping[str, str]) -> None:
    """Log the request (`notes`: a handler's extra fields, such as its cost)."""
    fields = access_fields(ex, path, seconds)
    fields.update((k, v) for k, v in notes.items() if k not in fields)
    head = f"{ex.method} {path} {ex.status} {fields['ms']:.1f}ms"
    rest = "".join(
        f" {name}={value}"
        for name, value in fields.items()
        if name not in ("method", "path", "status", "ms") and value is not None
    )
    log.info("%s%s", head, rest, extra={"fields": fields})
