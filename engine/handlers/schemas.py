"""Request and response schemas: validation uses them, and so does /openapi.json."""

from __future__ import annotations

from typing import Any

# OpenAI's bounds on one embeddings request: inputs per request, tokens per input.
MAX_EMBEDDING_INPUTS = 2048
MAX_INPUT_TOKENS = 8192
MAX_TOKENS = 2**31 - 1  # OpenAI's own bound (an int32); beyond it no model has a meaning

_CONTENT_PART: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"type": "string"}, "text": {"type": "string"}},
}

MESSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"enum": ["system", "developer", "user", "assistant", "tool", "function"]},
        "content": {"type": ["string", "array", "null"], "items": _CONTENT_PART},
        "name": {"type": "string"},
        "tool_calls": {"type": "array", "items": {"type": "object"}},
        "tool_call_id": {"type": "string"},
    },
}

# How chat completions and responses name the tool a model must call, or that it may.
TOOL_CHOICE: dict[str, Any] = {
    "anyOf": [
        {"enum": ["none", "auto", "required"]},
        {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"type": "string"}},
        },
    ],
    "x-message": "must be none, auto, required or an object naming a tool",
}

CHAT_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {
            "type": "string",
            "minLength": 1,
            "description": "PROVIDER/MODEL, alias, bare name or auto",
        },
        "messages": {"type": "array", "minItems": 1, "items": MESSAGE},
        "stream": {"type": ["boolean", "null"]},
        "stream_options": {
            "type": ["object", "null"],
            "properties": {"include_usage": {"type": "boolean"}},
        },
        "n": {"type": ["integer", "null"], "minimum": 1, "maximum": 128},
        "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
        "top_p": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "max_tokens": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_TOKENS},
        "max_completion_tokens": {
            "type": ["integer", "null"],
            "minimum": 1,
            "maximum": MAX_TOKENS,
        },
        "stop": {"type": ["string", "array", "null"], "items": {"type": "string"}, "maxItems": 4},
        "seed": {"type": ["integer", "null"]},
        "tools": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {"type": "string"},
                    "function": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "description": {"type": "string"},
                            "parameters": {"type": "object"},
                        },
                    },
                },
            },
        },
        "tool_choice": TOOL_CHOICE,
        "response_format": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"enum": ["text", "json_object", "json_schema"]},
                "json_schema": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "schema": {"type": "object"}},
                },
            },
            "if": {"properties": {"type": {"const": "json_schema"}}},
            "then": {"required": ["json_schema"]},
        },
        "user": {"type": "string"},
        "web_search_options": {
            "type": ["object", "null"],
            "description": "search the web first and cite the sources (url_citation annotations)",
            "properties": {
                "search_context_size": {"enum": ["low", "medium", "high"]},
                "user_location": {"type": ["object", "null"]},
            },
        },
    },
}

RESPONSES_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "model": {
            "type": "string",
            "minLength": 1,
            "description": "PROVIDER/MODEL, alias, bare name or auto",
        },
        "input": {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "minItems": 1, "items": {"type": "object"}},
            ],
            "x-message": "must be a string or a non-empty list of input items",
        },
        "instructions": {"type": ["string", "array", "null"], "items": {"type": "object"}},
        "previous_response_id": {"type": ["string", "null"], "minLength": 1},
        "store": {"type": ["boolean", "null"]},
        "stream": {"type": ["boolean", "null"]},
        "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
        "top_p": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "max_output_tokens": {"type": ["integer", "null"], "minimum": 1},
        "parallel_tool_calls": {"type": ["boolean", "null"]},
        "metadata": {
            "type": ["object", "null"],
            "additionalProperties": {"type": "string"},
            "maxProperties": 16,
        },
        "reasoning": {
            "type": ["object", "null"],
            "properties": {"effort": {"type": ["string", "null"]}},
        },
        "tools": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {"type": "string"},
                    "name": {"type": "string", "minLength": 1},
                    "description": {"type": ["string", "null"]},
                    "parameters": {"type": ["object", "null"]},
                    "strict": {"type": ["boolean", "null"]},
                },
            },
        },
        "tool_choice": TOOL_CHOICE,
        "text": {
            "type": ["object", "null"],
            "properties": {
                "format": {
                    "type": "object",
                    "required": ["type"],
                    "properties": {
                        "type": {"enum": ["text", "json_object", "json_schema"]},
                        "name": {"type": "string", "minLength": 1},
                        "schema": {"type": "object"},
                        "strict": {"type": ["boolean", "null"]},
                        "description": {"type": "string"},
                    },
                    "if": {"properties": {"type": {"const": "json_schema"}}},
                    "then": {"required": ["name", "schema"]},
                },
            },
        },
        "user": {"type": "string"},
    },
}

EMBEDDINGS_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "input": {
            "anyOf": [
                {"type": "string"},
                {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_EMBEDDING_INPUTS,
                    "items": {
                        "type": ["string", "integer", "array"],
                        "maxItems": MAX_INPUT_TOKENS,
                        "items": {"type": "integer"},
                    },
                },
            ],
            "x-message": (
                "must be a string, or an array of 1 to 2048 strings, tokens or token arrays "
                "(of at most 8192 tokens each)"
            ),
        },
        "encoding_format": {"enum": ["float", "base64"]},
        "dimensions": {"type": "integer", "minimum": 1},
        "user": {"type": "string"},
    },
}

IMAGES_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["prompt"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "prompt": {"type": "string", "minLength": 1},
        "n": {"type": ["integer", "null"], "minimum": 1, "maximum": 10},
        "size": {"type": ["string", "null"], "pattern": "^(auto|[0-9]+x[0-9]+)$"},
        "response_format": {"enum": ["url", "b64_json", None]},
        "quality": {"type": "string"},
        "style": {"type": "string"},
        "user": {"type": "string"},
    },
}

SPEECH_FORMATS = ["mp3", "opus", "aac", "flac", "wav", "pcm"]
SPEECH_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["input"],
    "properties": {
        "model": {"type": "string", "minLength": 1},
        "input": {"type": "string", "minLength": 1, "maxLength": 4096},
        "voice": {"type": ["string", "object"]},
        "instructions": {"type": "string", "maxLength": 4096},
        "response_format": {"enum": SPEECH_FORMATS},
        "speed": {"type": "number", "minimum": 0.25, "maximum": 4.0},
        "stream_format": {"enum": ["audio", "sse"]},
    },
}

TRANSCRIPTION_FORMATS = ["json", "text", "srt", "verbose_json", "vtt"]
# The file types OpenAI accepts, by extension.
AUDIO_FILE_TYPES = ("flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "oga", "wav", "webm")
TRANSCRIPTION_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "propertyNames": {"minLength": 1},  # every multipart part has a name
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "minLength": 1,
            "description": "The audio: " + ", ".join(AUDIO_FILE_TYPES),
        },
        "model": {"type": "string", "minLength": 1},
        "language": {"type": "string", "description": "ISO-639-1, e.g. en"},
        "prompt": {"type": "string"},
        "response_format": {"enum": TRANSCRIPTION_FORMATS},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
        "timestamp_granularities[]": {
            "type": "array",
            "items": {"enum": ["word", "segment"]},
        },
        "stream": {"type": "boolean"},
    },
}
