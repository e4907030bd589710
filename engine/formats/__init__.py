"""Wire formats: server-sent events and the shapes each inbound API speaks.

FORMATS is the registry a route's handler picks its format from by name.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.formats.anthropic import AnthropicFormat
from engine.formats.base import WireFormat
from engine.formats.openai import OpenAIFormat
from engine.formats.responses import ResponsesFormat
from engine.registry import registry

FORMATS: Mapping[str, WireFormat] = registry(
    (OpenAIFormat(), ResponsesFormat(), AnthropicFormat()), lambda f: f.name, "wire format"
)
OPENAI: WireFormat = FORMATS["openai"]

__all__ = ["FORMATS", "OPENAI", "WireFormat"]
