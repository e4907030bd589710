"""Provider kinds are code, providers are data: this is the registry of kinds."""

from __future__ import annotations

from engine.providers.anthropic import Anthropic
from engine.providers.base import Call, ProviderKind
from engine.providers.echo import Echo
from engine.providers.openai import OpenAICompatible
from engine.providers.pollinations import Pollinations
from engine.registry import registry

KINDS = registry(
    (Echo, OpenAICompatible, Anthropic, Pollinations), lambda kind: kind.name, "provider kind"
)

__all__ = ["KINDS", "Call", "ProviderKind"]
