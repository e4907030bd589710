"""Jinja lives here (with sandbox.py): bounded error-message templates and the page templates."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from engine.snapshot.sandbox import MAX_OUTPUT, BoundedSandbox, LimitExceeded, check_shape

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


# A context like the ones errors carry, for the trial render at compile time.
SAMPLE_CONTEXT = {
    "message": "The model 'm' does not exist.",
    "param": "model",
    "code": "model_not_found",
    "model": "m",
    "model_type": "chat",
    "suggestions": ["echo/echo-1", "fast"],
    "upstream_status": 500,
}


def compile_message(source: str) -> MessageRenderer:
    """A routes.yaml error message -> a function of the error's context.

    Sandboxed and bounded (engine/snapshot/sandbox.py): a template that breaks the
    bounds on a sample context is refused here, at compile time. Undefined names render
    empty, and a render that fails or outgrows MAX_OUTPUT gives the error's own message.
    """
    env = BoundedSandbox(autoescape=False, undefined=jinja2.ChainableUndefined)
    try:
        tree = env.parse(source)
        check_shape(tree)
        template = env.from_string(tree)
        _bounded(template, SAMPLE_CONTEXT)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateInvalid(f"line {exc.lineno}: {exc.message}") from None
    except LimitExceeded as exc:
        raise TemplateInvalid(f"beyond what an error message may cost: {exc}") from None
    except RENDER_FAULTS:
        pass  # this context only: another may render well, and a failure falls back anyway

    def render(context: Mapping[str, Any]) -> str:
        try:
            return _bounded(template, context)
        except RENDER_FAULTS:
            # The error is still answered, in its own words rather than the template's.
            return str(context.get("message", ""))

    return render


def _bounded(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    """The rendered text; LimitExceeded as soon as it passes MAX_OUTPUT characters."""
    pieces, size = [], 0
    for piece in template.generate(context):
        size += len(piece)
        if size > MAX_OUTPUT:
            raise LimitExceeded(f"a message beyond {MAX_OUTPUT} characters")
        pieces.append(piece)
    return "".join(pieces)


HtmlFilter = Callable[[str], str]


class Pages:
    """HTML page templates from a directory, autoescaped.

    `html_filters` turn text into HTML that the templates insert as it is (e.g. Markdown
    rendered by a renderer that escapes what it does not render).
    """

    def __init__(
        self, directory: Path, html_filters: Mapping[str, HtmlFilter] | None = None
    ) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            autoescape=jinja2.select_autoescape(["html"]),
            enable_async=False,
        )
        for name, render in (html_filters or {}).items():
            self.env.filters[name] = _as_markup(render)

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        return self.env.get_template(name).render(context)


def _as_markup(render: HtmlFilter) -> Callable[[Any], markupsafe.Markup]:
    def html(value: Any) -> markupsafe.Markup:
        return markupsafe.Markup(render("" if value is None else str(value)))

    return html
