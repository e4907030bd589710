"""`${VAR}` references to the environment inside config strings, as shells and Compose read them.

    ${NAME}              the variable; unset or empty, the value is off (a provider, a key)
    ${NAME:-default}     the default when NAME is unset or empty (the default may hold
                         references itself: ${URL:-http://${HOST:-localhost}:8080})
    ${NAME:?message}     NAME must be set: while it is not, the config is invalid
    $${                  the literal text `${`

Secrets stay references in the validated config; the compiler resolves them with
`resolve_env`, and nothing here puts a variable's value into a message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NESTING = 8  # defaults inside defaults


@dataclass(frozen=True, slots=True)
class Reference:
    """One `${...}`: the variable, and its default (`:-`) or its message (`:?`)."""

    name: str
    default: tuple[Part, ...] | None = None
    message: str | None = None


Part = str | Reference


class MalformedReference(ValueError):
    """A `${` that opens no well-formed reference."""


def parse_refs(value: str, *, strict: bool = True) -> tuple[Part, ...]:
    """`value` as literal text and references, in order.

    Strict, a malformed `${` raises MalformedReference; lenient, it stays literal text.
    """
    parts, _ = _parse(value, 0, strict=strict, depth=0)
    return tuple(parts)


def _parse(text: str, i: int, *, strict: bool, depth: int) -> tuple[list[Part], int]:
    """Parts from `i` up to the end, or (inside a default) up to its closing `}`."""
    parts: list[Part] = []
    literal: list[str] = []
    while i < len(text):
        if text.startswith("$${", i):
            literal.append("${")
            i += 3
        elif text.startswith("${", i):
            try:
                reference, i = _reference(text, i + 2, strict=strict, depth=depth)
            except MalformedReference:
                if strict:
                    raise
                literal.append("${")
                i += 2
                continue
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(reference)
        elif depth and text[i] == "}":
            break
        else:
            literal.append(text[i])
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts, i


def _reference(text: str, i: int, *, strict: bool, depth: int) -> tuple[Reference, int]:
    """The reference whose name starts at `i` (just after `${`), and where it ends."""
    name = _NAME.match(text, i)
    if name is None:
        raise MalformedReference(text)
    i = name.end()
    if text.startswith("}", i):
        return Reference(name.group()), i + 1
    if text.startswith(":-", i) and depth < MAX_NESTING:
        default, i = _parse(text, i + 2, strict=strict, depth=depth + 1)
        if i >= len(text):
            raise MalformedReference(text)
        return Reference(name.group(), default=tuple(default)), i + 1
    if text.startswith(":?", i):
        end = text.find("}", i + 2)
        if end < 0:
            raise MalformedReference(text)
        return Reference(name.group(), message=text[i + 2 : end]), end + 1
    raise MalformedReference(text)


def resolve_env(value: str, environ: Mapping[str, str]) -> str | None:
    """Substitute every reference in `value`; None when one is unset (or empty) and has no
    default. (A `${NAME:?message}` whose variable is unset also gives None here: the
    config check reports it, with `required_unset`, before anything is compiled.)"""
    return _render(parse_refs(value, strict=False), environ)


def _render(parts: tuple[Part, ...], environ: Mapping[str, str]) -> str | None:
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        resolved: str | None = environ.get(part.name, "")
        if not resolved:
            resolved = _render(part.default, environ) if part.default is not None else None
        if resolved is None:
            return None
        out.append(resolved)
    return "".join(out)


def env_refs(value: str) -> list[str]:
    """Names of the variables `value` refers to, defaults included, in order."""
    return [reference.name for reference in _references(parse_refs(value, strict=False))]


def _references(parts: tuple[Part, ...]) -> Iterator[Reference]:
    for part in parts:
        if isinstance(part, Reference):
            yield part
            yield from _references(part.default or ())


def required_unset(value: str, environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(name, message) of each `${NAME:?message}` that `value` needs and the environment
    lacks; a reference inside a default counts only when the default is used."""
    return list(_unset(parse_refs(value, strict=False), environ))


def _unset(parts: tuple[Part, ...], environ: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    for part in parts:
        if isinstance(part, str) or environ.get(part.name):
            continue
        if part.message is not None:
            yield part.name, part.message
        elif part.default is not None:
            yield from _unset(part.default, environ)


def malformed_reference(value: str) -> bool:
    """True when `value` has a `${` that opens no well-formed reference or escape."""
    try:
        parse_refs(value)
    except MalformedReference:
        return True
    return False
