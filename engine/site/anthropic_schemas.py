"""Schemas of Anthropic's Messages API answers, as /openapi.json documents them.

The request schemas are the ones /v1/messages validates with
(engine/handlers/messages_schemas.py); these describe what it answers.
"""

from __future__ import annotations

from typing import Any

from engine.handlers.messages_schemas import COUNT_TOKENS_REQUEST, MESSAGES_REQUEST

Schema = dict[str, Any]
_COMPONENT = "#/components/schemas/"

ANTHROPIC_ERROR: Schema = {
    "type": "object",
    "required": ["type", "error"],
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string", "description": "e.g. invalid_request_error"},
                "message": {"type": "string"},
            },
        },
    },
}
MESSAGE: Schema = {
    "type": "object",
    "required": ["id", "type", "role", "model", "content", "stop_reason", "usage"],
    "properties": {
        "id": {"type": "string"},
        "type": {"const": "message"},
        "role": {"const": "assistant"},
        "model": {"type": "string"},
        "content": {
            "type": "array",
            "items": {"type": "object", "required": ["type"]},
            "description": "text and tool_use blocks (others from anthropic providers)",
        },
        "stop_reason": {"type": ["string", "null"]},
        "stop_sequence": {"type": ["string", "null"]},
        "usage": {
            "type": "object",
            "required": ["input_tokens", "output_tokens"],
            "properties": {
                "input_tokens": {"type": "integer"},
                "output_tokens": {"type": "integer"},
            },
        },
    },
}
TOKEN_COUNT: Schema = {
    "type": "object",
    "required": ["input_tokens"],
    "properties": {"input_tokens": {"type": "integer", "minimum": 0}},
}
MODEL: Schema = {
    "type": "object",
    "required": ["type", "id", "display_name", "created_at"],
    "properties": {
        "type": {"const": "model"},
        "id": {"type": "string", "description": "PROVIDER/MODEL or an alias"},
        "display_name": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
MODEL_LIST: Schema = {
    "type": "object",
    "required": ["data", "has_more", "first_id", "last_id"],
    "properties": {
        "data": {"type": "array", "items": {"$ref": _COMPONENT + "AnthropicModel"}},
        "has_more": {"type": "boolean"},
        "first_id": {"type": ["string", "null"]},
        "last_id": {"type": ["string", "null"]},
    },
}

ANTHROPIC_SCHEMAS: dict[str, Schema] = {
    "AnthropicError": ANTHROPIC_ERROR,
    "MessagesRequest": MESSAGES_REQUEST,
    "CountTokensRequest": COUNT_TOKENS_REQUEST,
    "Message": MESSAGE,
    "MessageTokensCount": TOKEN_COUNT,
    "AnthropicModel": MODEL,
    "AnthropicModelList": MODEL_LIST,
    # /v1/models answers either shape, by the `anthropic-version` header.
    "Models": {"anyOf": [{"$ref": _COMPONENT + "Model"}, {"$ref": _COMPONENT + "AnthropicModel"}]},
    "ModelLists": {
        "anyOf": [{"$ref": _COMPONENT + "ModelList"}, {"$ref": _COMPONENT + "AnthropicModelList"}]
    },
}
