"""Each concept is declared once: the config schemas' enums follow the registries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.formats import FORMATS
from engine.handlers import HANDLERS
from engine.modeltypes import MODEL_TYPES
from engine.providers import KINDS
from engine.routing.strategies import STRATEGIES
from engine.search import SEARCH_KINDS

SCHEMAS = Path(__file__).resolve().parent.parent / "engine" / "config" / "schemas"


def providers_schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS / "providers.schema.json").read_text())
    return data


def enums(node: Any, key: str) -> list[list[str]]:
    """Every `enum` found under a property named `key`, anywhere in the schema."""
    found: list[list[str]] = []
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key and isinstance(value, dict) and "enum" in value:
                found.append(value["enum"])
            found += enums(value, key)
    elif isinstance(node, list):
        for item in node:
            found += enums(item, key)
    return found


def test_model_type_enum_is_the_registry() -> None:
    schema = providers_schema()
    # A provider's `auth.type` says how its key is sent: the one other `type` enum.
    auth = schema["$defs"]["provider"]["properties"].pop("auth")
    assert enums(auth, "type") == [["bearer", "header"]]
    assert enums(schema, "type") == [list(MODEL_TYPES)]


def test_strategy_enum_is_the_registry() -> None:
    assert [sorted(e) for e in enums(providers_schema(), "strategy")] == [sorted(STRATEGIES)]


def test_search_engine_kind_enum_is_the_registry() -> None:
    assert enums(providers_schema(), "kind") == [list(SEARCH_KINDS)]


def test_every_handler_speaks_a_registered_wire_format() -> None:
    assert {spec.wire for spec in HANDLERS.values()} <= set(FORMATS)


def test_every_provider_kind_is_registered_under_its_name() -> None:
    assert all(kind.name == name for name, kind in KINDS.items())
