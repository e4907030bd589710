"""Jinja lives here: sandboxed error-message templates and the page templates."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

# What a template can raise while rendering values it was given (e.g. `{{ 1 / 0 }}`).
RENDER_FAULTS = (
    jinja2.TemplateError,
    ArithmeticError,
    LookupError,
    TypeError,
    ValueError,
    AttributeError,
    RecursionError,
)
MessageRenderer = Callable[[Mapping[str, Any]], str]


class TemplateInvalid(ValueError):
    """An error template in routes.yaml does not compile."""


def compile_message(source: str) -> MessageRenderer:
    """A routes.yaml error message -> a function of the error's context.

    Sandboxed, and undefined names render empty, so a template cannot crash a response.
    """
    env = SandboxedEnvironment(autoescape=False, undefined=jinja2.ChainableUndefined)
    try:
        template = env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateInvalid(f"line {exc.lineno}: {exc.message}") from None

    def render(context: Mapping[str, Any]) -> str:
        try:
            return template.render(context)
        except RENDER_FAULTS:
            # The error is still answered, in its own words rather than the template's.
            return str(context.get("message", ""))

    return render


class Pages:
    """HTML page templates from a directory, autoescaped."""

    def __init__(self, directory: Path) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            autoescape=jinja2.select_autoescape(["html"]),
            enable_async=False,
        )

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        return self.env.get_template(name).render(context)
