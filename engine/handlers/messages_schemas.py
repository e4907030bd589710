"""Request schemas of Anthropic's Messages API, as /v1/messages checks them (and documents).

They hold what every target needs (Anthropic's own rules of shape); blocks and tools
only an anthropic provider understands pass here and are refused by the translation
for other targets.
"""

from __future__ import annotations

from typing import Any


def _when(kind: str, then: dict[str, Any]) -> dict[str, Any]:
    return {"if": {"properties": {"type": {"const": kind}}}, "then": then}


_SOURCE: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string"},
        "media_type": {"type": "string"},
        "data": {"type": "string"},
        "url": {"type": "string"},
    },
    "allOf": [
        _when("base64", {"required": ["media_type", "data"]}),
        _when("url", {"required": ["url"]}),
        _when("text", {"required": ["data"]}),
    ],
}
_INNER_BLOCK: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"type": "string"}, "text": {"type": "string"}, "source": _SOURCE},
}
CONTENT_BLOCK: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string"},
        "text": {"type": "string"},
        "source": _SOURCE,
        "id": {"type": "string"},
        "name": {"type": "string"},
        "input": {"type": "object"},
        "tool_use_id": {"type": "string"},
        "content": {"type": ["string", "array"], "items": _INNER_BLOCK},
        "is_error": {"type": "boolean"},
    },
    "allOf": [
        _when("text", {"required": ["text"]}),
        _when("image", {"required": ["source"]}),
        _when("document", {"required": ["source"]}),
        _when("tool_use", {"required": ["id", "name", "input"]}),
        _when("tool_result", {"required": ["tool_use_id"]}),
    ],
}
_MESSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"enum": ["user", "assistant"]},
        "content": {"type": ["string", "array"], "items": CONTENT_BLOCK},
    },
}
_SYSTEM: dict[str, Any] = {
    "type": ["string", "array"],
    "items": {
        "type": "object",
        "required": ["type", "text"],
        "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
    },
}
_TOOL: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "type": {"type": "string"},
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "input_schema": {"type": "object"},
    },
    "if": {"properties": {"type": {"const": "custom"}}},
    "then": {"required": ["input_schema"]},
    "else": {
        "anyOf": [{"required": ["type"]}, {"required": ["input_schema"]}],
        "x-message": "a custom tool needs an input_schema",
    },
}
_TOOL_CHOICE: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"enum": ["auto", "any", "tool", "none"]},
        "name": {"type": "string"},
        "disable_parallel_tool_use": {"type": "boolean"},
    },
    **_when("tool", {"required": ["name"]}),
}
_COMMON: dict[str, Any] = {
    "model": {
        "type": "string",
        "minLength": 1,
        "description": "PROVIDER/MODEL, alias, bare name or auto",
    },
    "messages": {"type": "array", "minItems": 1, "items": _MESSAGE},
    "system": _SYSTEM,
    "tools": {"type": "array", "items": _TOOL},
    "tool_choice": _TOOL_CHOICE,
    "thinking": {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"type": "string"}, "budget_tokens": {"type": "integer"}},
    },
}

MESSAGES_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["model", "messages", "max_tokens"],
    "properties": {
        **_COMMON,
        "max_tokens": {"type": "integer", "minimum": 1},
        "stream": {"type": "boolean"},
        "stop_sequences": {"type": "array", "items": {"type": "string"}},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "top_k": {"type": "integer", "minimum": 0},
        "metadata": {
            "type": "object",
            "properties": {"user_id": {"type": ["string", "null"]}},
        },
    },
}

COUNT_TOKENS_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": _COMMON,
}
