"""Request bodies checked against their schema (compiled once) before a handler uses them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.config.instance import instance_validator
from engine.errors import InvalidRequest
from engine.http.messages import Request

# Whole numbers up to here become ints; larger ones stay floats (orjson writes no bigger int).
LARGEST_INT = 2**63 - 1


class BodySchema:
    """Calling it returns the request's JSON body, or raises a 400 naming the bad field.

    JSON Schema counts `1.0` as an integer; such top-level values are handed on as ints,
    so no kind meets a float where its schema promised an integer.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.check = instance_validator(schema)
        self.integers = _integer_properties(schema)

    def __call__(self, req: Request) -> dict[str, Any]:
        body = req.json()
        problem = self.check(body)
        if problem is not None:
            raise InvalidRequest(problem[1], param=problem[0])
        for name in self.integers:
            value = body.get(name)
            if type(value) is float and abs(value) <= LARGEST_INT:
                body[name] = int(value)
        return body


def _integer_properties(schema: Mapping[str, Any]) -> tuple[str, ...]:
    """The top-level properties whose schema type includes "integer"."""
    names = []
    for name, spec in schema.get("properties", {}).items():
        types = spec.get("type") if isinstance(spec, Mapping) else None
        if types == "integer" or (isinstance(types, list) and "integer" in types):
            names.append(name)
    return tuple(names)
