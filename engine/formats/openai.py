"""OpenAI's wire format: `{"error": {...}}` errors, Bearer keys, `usage` and chunk deltas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from engine.errors import GatewayError
from engine.formats.sse import frame


class OpenAIFormat:
    name: ClassVar[str] = "openai"

    def error_body(self, err: GatewayError, message: str, type_: str) -> bytes:
        return orjson.dumps(
            {"error": {"message": message, "type": type_, "param": err.param, "code": err.code}}
        )

    def error_event(self, err: GatewayError) -> bytes:
        return frame(self.error_body(err, err.message, err.type))

    def credential(self, headers: Mapping[str, str]) -> str | None:
        """`Authorization: Bearer`; else `x-api-key`, which Anthropic's SDKs send to the
        routes both kinds of client share (GET /v1/models)."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return headers.get("x-api-key", "").strip() or None

    def missing_credential(self) -> str:
        return "Missing API key: send it as 'Authorization: Bearer <key>'."

    def usage_tokens(self, payload: Mapping[str, Any]) -> int | None:
        """prompt + completion tokens of `usage` (else its total); None if absent."""
        usage = payload.get("usage")
        if not isinstance(usage, dict):
            return None
        parts = [usage.get("prompt_tokens"), usage.get("completion_tokens")]
        if any(isinstance(p, int) for p in parts):
            return sum(p for p in parts if isinstance(p, int))
        total = usage.get("total_tokens")
        return total if isinstance(total, int) else None

    def generated_chars(self, payload: Mapping[str, Any]) -> int:
        """Content and tool-call arguments in a chunk's deltas."""
        choices = payload.get("choices")
        chars = 0
        for choice in choices if isinstance(choices, list) else ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict):
                chars += _delta_chars(delta)
        return chars


def _delta_chars(delta: Mapping[str, Any]) -> int:
    content = delta.get("content")
    chars = len(content) if isinstance(content, str) else 0
    calls = delta.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        arguments = function.get("arguments") if isinstance(function, dict) else None
        chars += len(arguments) if isinstance(arguments, str) else 0
    return chars
