"""A deterministic instance of a JSON Schema: the arguments echo puts in a tool call and
the object it answers a `json_schema` response format with.

Free text is what the caller said (the last user message, its first FREE_TEXT
characters); numbers, booleans and enum picks are drawn from a generator the caller
seeds, so one request always gets one answer. Past NESTING levels an object keeps only
its required properties and an array only its `minItems`, so that recursive schemas end.
What cannot be satisfied here (a remote `$ref`, a `false` schema, an instance past the
Budget) raises Unsatisfiable; the caller validates the instance anyway.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NESTING = 4  # levels below which only what is required is generated
DEEPEST = 32  # a required property that recurses forever stops here
MOST_VALUES = 10_000  # an instance is at most this many values...
MOST_CHARS = 1 << 20  # ...and this many characters of strings: a schema cannot ask for more
FREE_TEXT = 1000  # characters of the caller's text that a free-text string repeats
SPAN = 100  # width of a number range that has one bound or none
FORMATS = {
    "date-time": "2025-01-01T12:00:00Z",
    "date": "2025-01-01",
    "time": "12:00:00",
    "email": "echo@example.com",
    "uri": "https://example.com/echo",
    "url": "https://example.com/echo",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}


class Unsatisfiable(ValueError):
    """The schema asks for something echo does not generate; the message says what."""


class Budget:
    """What is left to spend on one instance; overspending is Unsatisfiable."""

    def __init__(self) -> None:
        self.values = MOST_VALUES
        self.chars = MOST_CHARS

    def value(self) -> None:
        self.values -= 1
        self._check()

    def text(self, length: int) -> None:
        self.chars -= length
        self._check()

    def _check(self) -> None:
        if self.values < 0 or self.chars < 0:
            raise Unsatisfiable(
                f"an instance larger than {MOST_VALUES} values or {MOST_CHARS} characters"
            )


@dataclass(frozen=True, slots=True)
class Source:
    """What an instance is made of: the caller's text, a seeded generator, the root
    schema, and the budget it must fit."""

    text: str
    rng: random.Random
    root: Mapping[str, Any]
    budget: Budget


def instance_of(schema: Any, text: str, rng: random.Random) -> Any:
    """An instance of `schema` (a JSON Schema as a dict, or true/false)."""
    root = schema if isinstance(schema, Mapping) else {}
    return _value(schema, Source(text[:FREE_TEXT], rng, root, Budget()), 0)


def _value(schema: Any, source: Source, depth: int) -> Any:
    if depth > DEEPEST:
        raise Unsatisfiable(f"nesting deeper than {DEEPEST} levels (a required recursion?)")
    source.budget.value()
    if schema is True or schema == {}:
        source.budget.text(len(source.text))
        return source.text
    if not isinstance(schema, Mapping):
        raise Unsatisfiable("a schema that allows nothing (false)")
    schema = _merged(_resolved(schema, source), source)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return source.rng.choice(list(schema["enum"]))
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            return _value(_preferred(schema[keyword]), source, depth)
    kind = _type_of(schema)
    if kind == "object":
        return _object(schema, source, depth)
    if kind == "array":
        return _array(schema, source, depth)
    if kind in ("integer", "number"):
        return _number(schema, source.rng, integer=kind == "integer")
    if kind == "boolean":
        return source.rng.random() < 0.5
    if kind == "null":
        return None
    return _string(schema, source)


def _resolved(schema: Mapping[str, Any], source: Source) -> Mapping[str, Any]:
    """Follow a local `$ref` (`#/$defs/Name`, `#/definitions/Name`, any JSON pointer)."""
    seen: set[str] = set()
    while "$ref" in schema:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#") or ref in seen:
            raise Unsatisfiable(f"a $ref other than a local one: {ref!r}")
        seen.add(ref)
        target: Any = source.root
        for part in filter(None, ref[1:].split("/")):
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or key not in target:
                raise Unsatisfiable(f"a $ref to nothing: {ref!r}")
            target = target[key]
        if not isinstance(target, Mapping):
            raise Unsatisfiable(f"a $ref to something that is not a schema: {ref!r}")
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **rest}
    return schema


def _merged(schema: Mapping[str, Any], source: Source) -> Mapping[str, Any]:
    """`allOf` folded into one schema: properties merged, required lists joined."""
    if "allOf" not in schema:
        return schema
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        if not isinstance(part, Mapping):
            continue
        part = _merged(_resolved(part, source), source)
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _preferred(options: list[Any]) -> Any:
    """The first alternative that is not plain null (an Optional's useful half)."""
    for option in options:
        if not (isinstance(option, Mapping) and option.get("type") == "null"):
            return option
    return options[0]


def _type_of(schema: Mapping[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):
        declared = next((t for t in declared if t != "null"), declared[0] if declared else None)
    if isinstance(declared, str):
        return declared
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "string"


def _object(schema: Mapping[str, Any], source: Source, depth: int) -> dict[str, Any]:
    properties: Mapping[str, Any] = schema.get("properties") or {}
    required = list(schema.get("required") or [])
    names = list(properties) if depth < NESTING else [n for n in properties if n in required]
    names += [n for n in required if n not in names]
    return {name: _value(properties.get(name, True), source, depth + 1) for name in names}


def _array(schema: Mapping[str, Any], source: Source, depth: int) -> list[Any]:
    prefix = list(schema.get("prefixItems") or [])
    items = schema.get("items", True)
    low = int(schema.get("minItems", 0))
    high = int(schema.get("maxItems", max(low, 1)))
    if low > MOST_VALUES:
        raise Unsatisfiable(f"minItems {low}, above {MOST_VALUES}")
    count = max(low, len(prefix)) if depth >= NESTING else max(low, min(high, 1), len(prefix))
    values = [
        _value(prefix[i] if i < len(prefix) else items, source, depth + 1) for i in range(count)
    ]
    if schema.get("uniqueItems"):
        values = _distinct(values)
    return values


def _distinct(values: list[Any]) -> list[Any]:
    """Strings made unique by a counter; other repeats are left for validation to catch."""
    seen: set[str] = set()
    out = []
    for i, value in enumerate(values):
        if isinstance(value, str) and value in seen:
            value = f"{value} {i + 1}"
        seen.add(str(value))
        out.append(value)
    return out


def _number(schema: Mapping[str, Any], rng: random.Random, *, integer: bool) -> int | float:
    low, high = _bound(schema, "minimum"), _bound(schema, "maximum")
    if (edge := _bound(schema, "exclusiveMinimum")) is not None:
        low = edge + (1 if integer else 0.01)
    if (edge := _bound(schema, "exclusiveMaximum")) is not None:
        high = edge - (1 if integer else 0.01)
    if low is None:
        low = 0 if high is None or high >= 0 else high - SPAN
    if high is None:
        high = low + SPAN
    step = schema.get("multipleOf")
    if step:
        first, last = -(-low // step), high // step  # the multiples of step within range
        if first > last:
            raise Unsatisfiable(f"no multiple of {step} between {low} and {high}")
        value = rng.randint(int(first), int(last)) * step
        return int(value) if integer else value
    if integer:
        if int(-(-low // 1)) > int(high // 1):
            raise Unsatisfiable(f"no integer between {low} and {high}")
        return rng.randint(int(-(-low // 1)), int(high // 1))
    return round(rng.uniform(low, high), 2) if high - low >= 0.01 else low


def _bound(schema: Mapping[str, Any], keyword: str) -> int | float | None:
    """A numeric bound; draft-04's boolean exclusiveMinimum/-Maximum are not bounds."""
    value = schema.get(keyword)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _string(schema: Mapping[str, Any], source: Source) -> str:
    if schema.get("format") == "uuid":
        return str(uuid.UUID(int=source.rng.getrandbits(128), version=4))
    text = FORMATS.get(str(schema.get("format")), source.text)
    shortest, longest = int(schema.get("minLength", 0)), schema.get("maxLength")
    source.budget.text(max(len(text), shortest))  # before a long string is made
    if len(text) < shortest:
        text = (text or "echo").ljust(shortest, ".")
    if longest is not None:
        text = text[: int(longest)]
    return text
