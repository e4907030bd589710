"""Search-grounded chat: search first, give the model numbered sources, cite them back.

A chat request with OpenAI's `web_search_options`, or through an alias declared with
`search: {engine, max_results}`, is grounded (`wants_search`). Patchbay searches the web
(type text) for the last user message and puts the results in front of it as numbered
sources; the request goes on without `web_search_options`, so every provider kind
takes it. The answer's message gets `annotations` of type `url_citation`, one per `[n]`
it cites, as OpenAI's search models give them; a stream gets them in a delta of their
own just before each choice's finishing chunk.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.formats.sse import blocks, frame, payloads
from engine.search.base import Query, dig, objects
from engine.search.catalog import WebSearch
from engine.search.query import MAX_QUERY

CONTEXT_SIZES = {"low": 3, "medium": 5, "high": 10}  # web_search_options.search_context_size
DEFAULT_SOURCES = 5
CITATION = re.compile(r"\[([0-9]{1,2})\]")
INSTRUCTION = (
    "Answer the question below with these results where they help, and cite each source "
    "you use by its number in square brackets."
)
Sources = tuple[dict[str, str], ...]


def cite(reply: bytes, sources: Sources) -> bytes:
    """A chat completion with each message's citations added as `annotations`."""
    try:
        data = orjson.loads(reply)
    except orjson.JSONDecodeError:
        return reply
    for choice in objects(dig(data, "choices")):
        message = choice.get("message")
        if isinstance(message, dict):
            content = message.get("content")
            found = citations(content if isinstance(content, str) else "", sources)
            message["annotations"] = [*(message.get("annotations") or []), *found]
    return orjson.dumps(data)


def citations(content: str, sources: Sources) -> list[dict[str, Any]]:
    """A `url_citation` for each `[n]` in `content` that names one of the sources."""
    found = []
    for mark in CITATION.finditer(content):
        number = int(mark.group(1))
        if 1 <= number <= len(sources):
            source = sources[number - 1]
            cited = {"url": source["url"], "title": source["title"]}
            span = {"start_index": mark.start(), "end_index": mark.end()}
            found.append({"type": "url_citation", "url_citation": {**span, **cited}})
    return found


@dataclass
class CitedStream:
    """Reads the content of each choice as it streams by, and adds its citations."""

    sources: Sources
    texts: dict[int, list[str]] = field(default_factory=dict)

    def feed(self, events: bytes) -> bytes:
        out = []
        for block in blocks(events):
            chunk = _chunk(block)
            for choice in objects(dig(chunk, "choices")):
                index = choice.get("index", 0)
                index = index if isinstance(index, int) else 0
                said = dig(choice, "delta", "content")
                self.texts.setdefault(index, []).append(said if isinstance(said, str) else "")
                if choice.get("finish_reason") is not None:
                    out.append(self._annotations(chunk, index))
            out.append(block + b"\n\n")
        return b"".join(out)

    async def relay(self, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            async for events in rest:
                yield self.feed(events)
        finally:
            close = getattr(rest, "aclose", None)
            if close is not None:
                await close()

    def _annotations(self, chunk: Any, index: int) -> bytes:
        found = citations("".join(self.texts.get(index, [])), self.sources)
        if not found:
            return b""
        head = {key: chunk.get(key) for key in ("id", "object", "created", "model")}
        delta = {"index": index, "delta": {"annotations": found}, "finish_reason": None}
        return frame(orjson.dumps({**head, "choices": [delta]}))


def _chunk(block: bytes) -> Any:
    """The JSON object an event carries, or None (comments, [DONE], anything else)."""
    for payload in payloads(block):
        if payload.startswith(b"{"):
            try:
                return orjson.loads(payload)
            except orjson.JSONDecodeError:
                return None
    return None


def wants_search(web_search: WebSearch | None, body: dict[str, Any]) -> bool:
    """True for a request with `web_search_options` or through an alias with `search:`."""
    return web_search is not None or body.get("web_search_options") is not None


@dataclass(frozen=True, slots=True)
class Grounding:
    """A chat request to ground: what to search for, and where the sources go."""

    body: dict[str, Any]  # the request without `web_search_options`
    query: Query | None  # None: no user message has text to search for
    where: int = -1  # the index of the message the sources go in front of

    def with_sources(self, sources: Sources) -> dict[str, Any]:
        """The request to send on: the numbered sources in front of the question."""
        assert self.query is not None
        messages = list(self.body["messages"])
        asked = messages[self.where]
        messages[self.where] = {**asked, "content": _with_sources(asked, self.query, sources)}
        return {**self.body, "messages": messages}


def prepare(body: dict[str, Any], web_search: WebSearch | None) -> Grounding:
    """The search a request asks for: its last user message's text, as many results as
    `search_context_size` says (else the alias's `max_results`, else 5)."""
    sent = {key: value for key, value in body.items() if key != "web_search_options"}
    found = _last_question(body["messages"])
    if found is None:
        return Grounding(sent, None)
    size = dig(body.get("web_search_options"), "search_context_size")
    count = web_search.max_results if web_search is not None else DEFAULT_SOURCES
    if isinstance(size, str) and size in CONTEXT_SIZES:
        count = CONTEXT_SIZES[size]
    return Grounding(sent, Query(text=_search_text(found[1]), max_results=count), found[0])


def _last_question(messages: list[Any]) -> tuple[int, str] | None:
    """The last user message with text, and where it is."""
    for where in range(len(messages) - 1, -1, -1):
        message = messages[where]
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                content = " ".join(
                    part.get("text", "") for part in content if part.get("type") == "text"
                )
            if isinstance(content, str) and content.strip():
                return where, content
    return None


def _search_text(question: str) -> str:
    """The question as a search query: whitespace squeezed, cut at a word within MAX_QUERY."""
    words = " ".join(question.split())
    if len(words) <= MAX_QUERY:
        return words
    cut = words[: MAX_QUERY + 1]
    return cut[: cut.rfind(" ")] if " " in cut else cut[:MAX_QUERY]


def _with_sources(message: dict[str, Any], query: Query, sources: Sources) -> Any:
    """The message's content with the numbered sources in front of it."""
    if sources:
        lines = [f'Web search results for "{query.text}", numbered as sources:', ""]
        for number, source in enumerate(sources, 1):
            snippet = [source["snippet"]] if source.get("snippet") else []
            lines += [f"[{number}] {source['title']}", source["url"], *snippet, ""]
        context = "\n".join([*lines, INSTRUCTION])
    else:
        context = f'A web search for "{query.text}" found nothing; say so if it matters.'
    content = message.get("content")
    if isinstance(content, list):
        return [{"type": "text", "text": context}, *content]
    return f"{context}\n\n{content}"
