"""The access log: one line per routed request, read off its Exchange.

Text for people (`POST /v1/chat/completions 200 84.2ms id=... key=... model=...`), and
with `log_format: json` the same fields as one object (engine/observe/logs.py). Only
the key's name is ever written, never the key. The line is the record's message, an
AccessLine: its text is made when a handler formats it, its fields only when the JSON
formatter asks for them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from engine.observe.exchange import Exchange

log = logging.getLogger("patchbay.access")
LEAD = ("method", "path", "status", "ms")  # the text's first words, unnamed


class AccessLine:
    __slots__ = ("ex", "notes", "path", "seconds")

    def __init__(self, ex: Exchange, path: str, seconds: float, notes: Mapping[str, str]):
        self.ex = ex
        self.path = path
        self.seconds = seconds
        self.notes = notes  # a handler's extra fields, such as its cost

    def fields(self) -> dict[str, Any]:
        """Every field, in the order the text shows them (None: not known)."""
        ex, tokens = self.ex, self.ex.tokens
        settled = ex.provider and (tokens.prompt or tokens.completion)
        fields = {
            "method": ex.method,
            "path": self.path,
            "status": ex.status,
            "ms": round(self.seconds * 1000, 1),
            "id": ex.request_id,
            "route": ex.route,
            "key": ex.key or None,
            "model": ex.model_asked or None,
            "provider": ex.provider or None,
            "served": ex.model or None,
            "attempts": len(ex.attempts) if ex.model_asked else None,
            "upstream_ms": round(ex.upstream_seconds * 1000, 1) if ex.attempts else None,
            "ttft_ms": round(ex.first_token * 1000, 1) if ex.first_token is not None else None,
            "prompt_tokens": tokens.prompt if settled else None,
            "completion_tokens": tokens.completion if settled else None,
        }
        for name, value in self.notes.items():
            fields.setdefault(name, value)
        return fields

    def __str__(self) -> str:
        fields = self.fields()
        head = f"{self.ex.method} {self.path} {self.ex.status} {fields['ms']:.1f}ms"
        rest = [f"{k}={v}" for k, v in fields.items() if v is not None and k not in LEAD]
        return f"{head} {' '.join(rest)}"


def write_access(ex: Exchange, path: str, seconds: float, notes: Mapping[str, str]) -> None:
    """Log the request; `notes` are a handler's extra fields, such as its cost."""
    line = AccessLine(ex, path, seconds, notes)
    log.info(line, extra={"fields": line.fields})
