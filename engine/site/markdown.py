"""Markdown in descriptions (the OpenAPI document's, `api.description`) as HTML, the way
Swagger UI shows them: CommonMark with raw HTML escaped and unsafe links refused
(markdown-it-py's "js-default" preset). The only module that imports markdown_it."""

from __future__ import annotations

from markdown_it import MarkdownIt

_RENDERER = MarkdownIt("js-default")  # immutable after construction: rendering keeps no state


def markdown_block(text: str) -> str:
    """Paragraphs, lists and code blocks: for a description that stands on its own."""
    return str(_RENDERER.render(text))


def markdown_inline(text: str) -> str:
    """Code, emphasis and links only, no paragraph: for a table cell or a line of text."""
    return str(_RENDERER.renderInline(text))
