"""`${VAR}` references to the environment inside config strings.

Secrets stay references in the validated config; the compiler resolves them with
`resolve_env`, which never logs or prints a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# `$${` comes first so that an escaped reference is never read as a real one.
_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def env_refs(value: str) -> list[str]:
    """Names of the `${VAR}` references in `value`, in order; escaped `$${X}` is not one."""
    return [m.group(1) for m in _REFERENCE.finditer(value) if m.group(1)]


def resolve_env(value: str, environ: Mapping[str, str]) -> str | None:
    """Substitute every `${VAR}` in `value`; None when any of them is unset or empty.

    `$${X}` is an escape for the literal text `${X}`.
    """
    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        if name is None:
            return "${"
        resolved = environ.get(name, "")
        if not resolved:
            missing = True
        return resolved

    result = _REFERENCE.sub(substitute, value)
    return None if missing else result


def malformed_reference(value: str) -> bool:
    """True when `value` has a `${` that opens neither a `${NAME}` reference nor an escape."""
    stripped = _REFERENCE.sub("", value)
    return "${" in stripped
