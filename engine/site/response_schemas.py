"""Response schemas: what /openapi.json promises each handler answers.

The request schemas live with the handlers that validate with them
(engine/handlers/schemas.py); these describe the answers, and the schemathesis test
holds the running gateway to them.
"""

from __future__ import annotations

from typing import Any

from engine.handlers.schemas import (
    CHAT_REQUEST,
    EMBEDDINGS_REQUEST,
    IMAGES_REQUEST,
    RESPONSES_REQUEST,
    SPEECH_REQUEST,
    TRANSCRIPTION_REQUEST,
)
from engine.site.anthropic_schemas import ANTHROPIC_SCHEMAS
from engine.site.dashboard_schemas import DASHBOARD_SCHEMAS

Schema = dict[str, Any]

ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
MODEL: Schema = {
    "type": "object",
    "required": ["id", "object", "created", "owned_by"],
    "properties": {
        "id": {"type": "string", "description": "PROVIDER/MODEL or an alias"},
        "object": {"const": "model"},
        "created": {"type": "integer"},
        "owned_by": {"type": "string", "description": "the provider, or patchbay for aliases"},
    },
}
PROVIDER: Schema = {
    "type": "object",
    "required": ["name", "kind", "status", "models"],
    "properties": {
        "name": {"type": "string"},
        "kind": {"type": "string"},
        "status": {"enum": ["active", "disabled", "missing_key"]},
        "models": {"type": "array", "items": {"type": "string"}},
        "discover": {"type": "boolean"},
    },
}
CHAT_COMPLETION: Schema = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "chat.completion"},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "message"],
                "properties": {
                    "index": {"type": "integer"},
                    "message": {"type": "object", "required": ["role"]},
                    "finish_reason": {"type": ["string", "null"]},
                },
            },
        },
        "usage": {"type": ["object", "null"]},
    },
}
RESPONSE: Schema = {
    "type": "object",
    "description": "OpenAI's Response object",
    "required": ["id", "object", "created_at", "status", "model", "output"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "response"},
        "created_at": {"type": "integer"},
        "status": {"enum": ["completed", "incomplete", "failed", "in_progress"]},
        "model": {"type": "string"},
        "output": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"type": "string"}},
            },
        },
        "usage": {"type": "object"},
        "error": {"type": ["object", "null"]},
        "previous_response_id": {"type": ["string", "null"]},
    },
}
RESPONSE_DELETED: Schema = {
    "type": "object",
    "required": ["id", "object", "deleted"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "response"},
        "deleted": {"const": True},
    },
}
EMBEDDING_LIST: Schema = {
    "type": "object",
    "required": ["object", "data", "model"],
    "properties": {
        "object": {"const": "list"},
        "data": {"type": "array", "items": {"type": "object", "required": ["index", "embedding"]}},
        "model": {"type": "string"},
        "usage": {"type": "object"},
    },
}
IMAGES: Schema = {
    "type": "object",
    "required": ["created", "data"],
    "properties": {
        "created": {"type": "integer"},
        "data": {"type": "array", "items": {"type": "object"}},
    },
}

TRANSCRIPTION: Schema = {
    "type": "object",
    "description": "json: text (and usage); verbose_json adds task, language, duration, "
    "segments and words",
    "required": ["text"],
    "properties": {
        "text": {"type": "string"},
        "usage": {"type": "object"},
        "task": {"type": "string"},
        "language": {"type": "string"},
        "duration": {"type": "number"},
        "segments": {"type": "array", "items": {"type": "object"}},
        "words": {"type": "array", "items": {"type": "object"}},
    },
}

SSE_EVENT: Schema = {
    "type": "object",
    "description": "One server-sent event: `data` is a JSON chunk, a JSON error, or [DONE]",
    "required": ["data"],
    "properties": {
        "data": {"type": "string"},
        "event": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}
SEARCH_RESULTS: Schema = {
    "type": "object",
    "required": ["engine", "type", "query", "results"],
    "properties": {
        "engine": {"type": "string"},
        "type": {"type": "string"},
        "query": {"type": "string"},
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["title", "url", "snippet", "source"],
                "properties": {
                    "title": {"type": "string"},
                    "url": {"type": "string"},
                    "snippet": {"type": "string"},
                    "source": {"type": "string"},
                    "published": {"type": "string"},
                    "thumbnail": {"type": "string"},
                    "image": {"type": "string"},
                    "duration": {"type": "string"},
                },
            },
        },
    },
}


def _list_of(item: Schema) -> Schema:
    return {
        "type": "object",
        "required": ["object", "data"],
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": item}},
    }


# Named schemas (components); a document carries the ones its enabled routes use.
SCHEMAS: dict[str, Schema] = {
    "Error": ERROR,
    "ChatCompletionRequest": CHAT_REQUEST,
    "ChatCompletion": CHAT_COMPLETION,
    "ResponsesRequest": RESPONSES_REQUEST,
    "Response": RESPONSE,
    "ResponseDeleted": RESPONSE_DELETED,
    "EmbeddingsRequest": EMBEDDINGS_REQUEST,
    "EmbeddingList": EMBEDDING_LIST,
    "ImagesRequest": IMAGES_REQUEST,
    "ImagesResponse": IMAGES,
    "SpeechRequest": SPEECH_REQUEST,
    "TranscriptionRequest": TRANSCRIPTION_REQUEST,
    "Transcription": TRANSCRIPTION,
    "Model": MODEL,
    "ModelList": _list_of({"$ref": "#/components/schemas/Model"}),
    "Provider": PROVIDER,
    "ProviderList": _list_of({"$ref": "#/components/schemas/Provider"}),
    "SearchResults": SEARCH_RESULTS,
    "SearchEngineList": _list_of({"type": "object", "required": ["name"]}),
    **DASHBOARD_SCHEMAS,
    **ANTHROPIC_SCHEMAS,
}
