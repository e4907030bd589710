"""Anthropic's wire format: `{"type": "error", ...}` errors, `x-api-key`, named SSE events.

What Anthropic's Messages API and OpenAI's chat completions call the same thing by
different names is declared here once (stop reasons both ways), for the inbound
translation (anthropic_request, anthropic_reply) and the `anthropic` provider kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from engine.errors import GatewayError
from engine.formats.usage import Usage

# HTTP status -> Anthropic's error type (its documented set; others by class of status).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
# Anthropic stop_reason -> OpenAI finish_reason.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# OpenAI finish_reason -> Anthropic stop_reason ("stop" is end_turn unless a stop
# sequence matched, which only the answer can tell: see anthropic_reply.stop_reason).
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
# Client headers that are part of the format, forwarded to a native upstream.
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
USAGE_COUNTS = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
)


def error_type(status: int) -> str:
    """Anthropic's error type for an HTTP status."""
    found = ERROR_TYPES.get(status)
    if found is not None:
        return found
    return "api_error" if status >= 500 else "invalid_request_error"


def event(kind: str, data: Mapping[str, Any]) -> bytes:
    """One named server-sent event, as Anthropic frames them (the SDKs need the name)."""
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def total_tokens(usage: Mapping[str, Any]) -> int:
    """Input (cached or not) plus output tokens of an Anthropic `usage` object."""
    return sum(v for k in USAGE_COUNTS if isinstance(v := usage.get(k), int))


class AnthropicFormat:
    name: ClassVar[str] = "anthropic"

    def error_body(self, err: GatewayError, message: str, type_: str) -> bytes:
        """Anthropic's error object; its type follows the status (a template sets the
        message; its OpenAI-style type has no place here)."""
        error = {"type": error_type(err.status), "message": message}
        return orjson.dumps({"type": "error", "error": error})

    def error_event(self, err: GatewayError) -> bytes:
        return b"event: error\ndata: " + self.error_body(err, err.message, err.type) + b"\n\n"

    def credential(self, headers: Mapping[str, str]) -> str | None:
        key = headers.get("x-api-key", "").strip()
        if key:
            return key
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None

    def missing_credential(self) -> str:
        return "Missing API key: send it as 'x-api-key: <key>' or 'Authorization: Bearer <key>'."

    def usage_tokens(self, payload: Mapping[str, Any]) -> int | None:
        """A Message's tokens, or a stream's from its `message_delta` (whose counts are
        totals, input included: Patchbay's streams always carry it); None otherwise."""
        kind = payload.get("type")
        if kind not in ("message", "message_delta"):
            return None
        usage = payload.get("usage")
        if not isinstance(usage, dict) or not isinstance(usage.get("input_tokens"), int):
            return None
        return total_tokens(usage)

    def usage(self, payload: Mapping[str, Any]) -> Usage | None:
        """A Message's (or a stream's `message_delta`'s) counts, in the units prices use:
        input includes the tokens read from the provider's cache, which are also counted
        apart."""
        if payload.get("type") not in ("message", "message_delta"):
            return None
        usage = payload.get("usage")
        if not isinstance(usage, dict) or not isinstance(usage.get("input_tokens"), int):
            return None
        cached = _count(usage.get("cache_read_input_tokens"))
        written = _count(usage.get("cache_creation_input_tokens"))
        return Usage(
            input_tokens=_count(usage.get("input_tokens")) + cached + written,
            cached_input_tokens=cached,
            output_tokens=_count(usage.get("output_tokens")),
        )

    def generated_chars(self, payload: Mapping[str, Any]) -> int:
        """Text, thinking and tool input in one `content_block_delta` event."""
        if payload.get("type") != "content_block_delta":
            return 0
        delta = payload.get("delta")
        if not isinstance(delta, dict):
            return 0
        text = delta.get("text") or delta.get("partial_json") or delta.get("thinking")
        return len(text) if isinstance(text, str) else 0


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0
