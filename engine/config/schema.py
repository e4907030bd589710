"""Validate a parsed file against its JSON Schema and phrase every error for a person.

Schemas live in `schemas/*.schema.json` (JSON Schema 2020-12). A subschema may carry an
`x-message` that replaces the generic wording of its errors: a string for all of them,
or a mapping from keyword (e.g. "oneOf") to message.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from engine.config.document import Document, Path
from engine.config.problems import Problem

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


SCHEMA_NAMES = ("providers", "routes", "server")


def schema_file(name: str) -> Traversable:
    """The installed schema file for a file kind: "providers", "routes" or "server"."""
    return resources.files("engine.config").joinpath(f"schemas/{name}.schema.json")


def load_schema(name: str) -> dict[str, Any]:
    """The schema for a file kind: "providers", "routes" or "server"."""
    schema: dict[str, Any] = json.loads(schema_file(name).read_text())
    return schema


def validate(document: Document, schema: dict[str, Any]) -> list[Problem]:
    """Every schema problem in `document`, each at the position of what is wrong."""
    validator = Draft202012Validator(schema)
    problems: list[Problem] = []
    for error in _root_causes(validator.iter_errors(document.data)):
        path: Path = tuple(error.absolute_path)
        if any(path[: len(gap)] == gap for gap in document.unreadable):
            continue  # already reported where the value could not be read
        problems.extend(_describe(document, error, path))
    # `required` reports each missing key in one error per key; keep each problem once.
    return list(dict.fromkeys(problems))


def _root_causes(errors: Iterator[ValidationError]) -> Iterator[ValidationError]:
    """Drop errors that only restate a wrong type at the same place."""
    collected = list(errors)
    mistyped = {tuple(e.absolute_path) for e in collected if e.validator == "type"}
    for error in collected:
        if error.validator == "type" or tuple(error.absolute_path) not in mistyped:
            yield error


def _describe(document: Document, error: ValidationError, path: Path) -> list[Problem]:
    keyword, expected, instance, schema = _parts(error)
    if keyword in ("anyOf", "oneOf"):
        branch = _matching_branch(error)
        if branch is not None:
            return [
                problem
                for sub in _root_causes(iter(branch))
                for problem in _describe(document, sub, tuple(sub.absolute_path))
            ]
    if keyword == "additionalProperties" and expected is False:
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(instance) - set(allowed))
        return [_at_key(document, (*path, key), _unknown_key(key, allowed)) for key in unknown]
    if "propertyNames" in error.absolute_schema_path:
        return [_at_key(document, (*path, instance), _message(error))]
    if keyword == "required":
        missing = [key for key in expected if key not in instance]
        return [
            document.problem(document.value_at(path), f"missing required key {key!r}", path)
            for key in missing
        ]
    return [document.problem(document.value_at(path), _message(error), path)]


def _parts(error: ValidationError) -> tuple[str, Any, Any, Any]:
    """Keyword, its value in the schema, the offending instance and the failing subschema."""
    return str(error.validator), error.validator_value, error.instance, error.schema


def _at_key(document: Document, path: Path, message: str) -> Problem:
    return document.problem(document.key_at(path), message, path)


def _matching_branch(error: ValidationError) -> list[ValidationError] | None:
    """The one alternative whose type fits the value, so its own errors can be shown."""
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(int(sub.schema_path[0]), []).append(sub)
    fitting = [
        subs
        for subs in branches.values()
        if not any(s.validator in ("type", "const", "enum") and not s.relative_path for s in subs)
    ]
    if len(fitting) == 1 and len(branches) == len(_parts(error)[1]):
        return fitting[0]
    return None


def _unknown_key(key: str, allowed: list[str]) -> str:
    guess = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {guess[0]!r}?" if guess else ""
    return f"unknown key {key!r} (allowed: {', '.join(allowed)}){hint}"


def custom_message(schema: object, keyword: str) -> str | None:
    """A subschema's own wording for an error of `keyword`, from its `x-message`."""
    custom = schema.get("x-message") if isinstance(schema, dict) else None
    if isinstance(custom, dict):
        custom = custom.get(keyword)
    return custom if isinstance(custom, str) else None


def _message(error: ValidationError) -> str:
    """One readable sentence for a schema error."""
    keyword, expected, instance, schema = _parts(error)
    custom = custom_message(schema, keyword)
    if custom is not None:
        return custom
    if keyword == "type":
        wanted = [expected] if isinstance(expected, str) else list(expected)
        return f"expected {' or '.join(_TYPE_NAMES[t] for t in wanted)}, got {_shown(instance)}"
    if keyword in ("enum", "const"):
        choices = [str(c) for c in (expected if keyword == "enum" else [expected])]
        hint = f' (write "{instance}" in quotes)' if str(instance) in choices else ""
        return f"{_shown(instance)} is not one of: {', '.join(choices)}{hint}"
    return _bounds(keyword, expected, instance) or error.message


def _bounds(keyword: str, expected: Any, instance: Any) -> str | None:
    words = {
        "minimum": "at least",
        "maximum": "at most",
        "exclusiveMinimum": "greater than",
        "exclusiveMaximum": "less than",
    }
    if keyword in words:
        return f"must be {words[keyword]} {expected}, got {instance}"
    if keyword == "minItems":
        return f"needs at least {expected} item(s)"
    if keyword == "uniqueItems":
        return "items must not repeat"
    if keyword == "minLength":
        return "must not be empty"
    if keyword == "pattern":
        return f"{instance!r} does not match the pattern {expected}"
    return None


def _shown(instance: Any) -> str:
    """A value as the message shows it, with a hint when `${VAR}` stands where it cannot."""
    if instance is None:
        return "null"
    if isinstance(instance, bool):
        return str(instance).lower()
    if isinstance(instance, dict):
        return "a mapping"
    if isinstance(instance, list):
        return "a list"
    if isinstance(instance, str):
        if "${" in instance:
            return f"{instance!r} (${{VAR}} references work only where a string is expected)"
        return repr(instance)
    return repr(instance)
