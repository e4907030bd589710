"""The model types a provider may declare, each declared once with what follows from it.

A model's `type` in providers.yaml picks which endpoints may serve it; the request
schema's name and example feed the OpenAPI document, the noun feeds messages. The
providers schema's `type` enum is checked against this table by the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.registry import registry


@dataclass(frozen=True, slots=True)
class ModelType:
    """One kind of model: `name` as providers.yaml writes it."""

    name: str
    noun: str  # what its requests are called in messages, e.g. "embeddings"
    request: str  # the OpenAPI component of its request body
    example: Mapping[str, Any] = field(default_factory=dict)  # a request body less `model`


MODEL_TYPES: Mapping[str, ModelType] = registry(
    (
        ModelType(
            "chat",
            "chat completions",
            "ChatCompletionRequest",
            {"messages": [{"role": "user", "content": "Hello!"}]},
        ),
        ModelType(
            "image",
            "image generation",
            "ImagesRequest",
            {"prompt": "a lighthouse at dusk, in watercolour"},
        ),
        ModelType("embedding", "embeddings", "EmbeddingsRequest", {"input": "Hello!"}),
        ModelType("speech", "speech", "SpeechRequest", {"input": "Hello!", "voice": "alloy"}),
        ModelType(
            "transcription", "transcriptions", "TranscriptionRequest", {"response_format": "text"}
        ),
    ),
    lambda t: t.name,
    "model type",
)
