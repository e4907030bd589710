"""JSON-Schema validation of request bodies, behind the same boundary as config files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

# (param, message) of the first problem, or None when the instance is valid.
InstanceCheck = Callable[[Any], "tuple[str, str] | None"]


def instance_validator(schema: Mapping[str, Any]) -> InstanceCheck:
    """A checker for one schema, built once; it reports the most relevant problem."""
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)

    def check(instance: Any) -> tuple[str, str] | None:
        error: ValidationError | None = next(iter(validator.iter_errors(instance)), None)
        if error is None:
            return None
        return _param(error), _message(error)

    return check


def _param(error: ValidationError) -> str:
    path = list(error.absolute_path)
    if error.validator == "required":
        required: list[str] = list(error.validator_value)  # type: ignore[arg-type]
        present = error.instance if isinstance(error.instance, dict) else {}
        missing = next((m for m in required if m not in present), None)
        if missing is not None:
            path.append(missing)
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _message(error: ValidationError) -> str:
    param = _param(error) or "body"
    if error.validator == "required":
        return f"Missing required parameter: '{param}'."
    if error.validator == "additionalProperties":
        return f"Unrecognized request argument in '{param}': {error.message}"
    return f"Invalid value for '{param}': {error.message}"
