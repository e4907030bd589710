"""Provider kinds are code, providers are data: this is the registry of kinds."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from engine.providers.anthropic import Anthropic
from engine.providers.base import Call, ProviderKind
from engine.providers.echo import Echo
from engine.providers.openai import OpenAICompatible
from engine.providers.pollinations import Pollinations


def _registry(*kinds: type[ProviderKind]) -> Mapping[str, type[ProviderKind]]:
    """A read-only name -> kind map; registering a name twice is a programming error."""
    table: dict[str, type[ProviderKind]] = {}
    for kind in kinds:
        if kind.name in table:
            raise ValueError(f"provider kind {kind.name!r} is registered twice")
        table[kind.name] = kind
    return MappingProxyType(table)


KINDS = _registry(Echo, OpenAICompatible, Anthropic, Pollinations)

__all__ = ["KINDS", "Call", "ProviderKind"]
