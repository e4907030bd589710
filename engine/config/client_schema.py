"""JSON Schemas that clients send (tool parameters, `json_schema` response formats).

They arrive with a request, once, so they are interpreted by jsonschema rather than
compiled: a client's schema is data here, never code. Only local references resolve;
nothing is fetched.
"""

from __future__ import annotations

from typing import Any

from jsonschema import SchemaError
from jsonschema.validators import validator_for
from referencing.exceptions import Unresolvable


def schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a valid JSON Schema (of the draft its `$schema` names, else
    2020-12), or None."""
    cls = validator_for(schema) if isinstance(schema, dict) else None
    if cls is None:
        return "a schema must be an object"
    try:
        cls.check_schema(schema)
    except SchemaError as error:
        return error.message
    return None


def instance_problem(schema: dict[str, Any], instance: Any) -> str | None:
    """Why `instance` does not fit `schema` (checked with schema_problem first), or None."""
    validator = validator_for(schema)(schema)
    try:
        error = next(iter(validator.iter_errors(instance)), None)
    except Unresolvable as unresolvable:
        return f"unresolvable reference {unresolvable}"
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "(root)"
    return f"{where}: {error.message} ({error.validator})"
