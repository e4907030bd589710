"""JSON-Schema validation of request bodies, compiled once per schema.

Request bodies are checked on every call, so their schemas are compiled to Python by
fastjsonschema (about 9 µs a chat request against jsonschema's 130 µs); config files,
checked rarely and needing every problem with its position, use jsonschema.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import fastjsonschema

from engine.config.schema import custom_message

# (param, message) of the first problem, or None when the instance is valid.
InstanceCheck = Callable[[Any], "tuple[str, str] | None"]


def instance_validator(schema: Mapping[str, Any]) -> InstanceCheck:
    """A checker for one schema (draft-07 keywords), built once."""
    validate = fastjsonschema.compile(dict(schema))

    def check(instance: Any) -> tuple[str, str] | None:
        try:
            validate(instance)
        except fastjsonschema.JsonSchemaValueException as error:
            return _describe(error)
        return None

    return check


def _describe(error: fastjsonschema.JsonSchemaValueException) -> tuple[str, str]:
    path = list(error.path or ["data"])[1:]  # the first element names the root, "data"
    if error.rule == "required":
        present = error.value if isinstance(error.value, dict) else {}
        missing = next((name for name in error.rule_definition or [] if name not in present), "")
        param = _param([*path, missing])
        return param, f"Missing required parameter: '{param}'."
    param = _param(path) or "body"
    custom = custom_message(error.definition, str(error.rule))
    if custom is not None:
        return param, f"Invalid value for '{param}': {custom}."
    detail = error.message.removeprefix(str(error.name)).strip()
    return param, f"Invalid value for '{param}': {detail}."


def _param(path: list[Any]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
