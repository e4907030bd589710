"""Jinja lives here: sandboxed error-message templates and the page templates."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
from jinja2.sandbox import SandboxedEnvironment

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
        except jinja2.TemplateError:
            return source

    return render


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
