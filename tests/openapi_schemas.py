"""Validate gateway output against OpenAI's own OpenAPI component schemas.

OpenAI's spec is OpenAPI 3.0 (`nullable: true`), which JSON Schema 2020-12 ignores:
each `nullable` is translated into an added `null` type when the spec is loaded.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

# OpenAI's spec is test data kept in the repository (its source: tests/data/README.md).
SPEC = Path(__file__).resolve().parent / "data" / "openai-openapi.json"


def _translate(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _translate(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") is True:
            if "type" in out:
                types = out["type"] if isinstance(out["type"], list) else [out["type"]]
                out["type"] = [*types, "null"]
                if "enum" in out:
                    out["enum"] = [*out["enum"], None]
            else:
                out = {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [_translate(v) for v in node]
    return node


@functools.cache
def _spec() -> dict[str, Any]:
    return _translate(json.loads(SPEC.read_text()))  # type: ignore[no-any-return]


def validate(component: str, instance: Any) -> None:
    """Raise jsonschema.ValidationError unless `instance` fits components/schemas/<component>."""
    spec = _spec()
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:openai", resource)
    schema = {"$ref": f"urn:openai#/components/schemas/{component}"}
    Draft202012Validator(schema, registry=registry).validate(instance)
