"""The `duckduckgo` kind: DuckDuckGo's keyless Instant Answer API.

`GET {base_url}/?q=..&format=json&no_html=1&skip_disambig=1` answers one topic, not a
results page: `Heading`, `AbstractText`, `AbstractURL`, `Results` (official links) and
`RelatedTopics`, whose entries are `{"FirstURL", "Text"}` or named groups
`{"Name", "Topics": [...]}`. These become results in that order; a query DuckDuckGo
has no instant answer for yields no results.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from engine.search.base import Result, SearchEngine

if TYPE_CHECKING:
    from engine.upstream.client import Upstream


def _topics(entries: Any) -> Iterator[dict[str, Any]]:
    """Topic entries with groups flattened, in the order DuckDuckGo lists them."""
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        if "Topics" in entry:
            yield from _topics(entry["Topics"])
        else:
            yield entry


def _split(text: Any) -> tuple[str, str]:
    """`"Title - what it is"` -> (title, snippet); a text without the dash is the title."""
    if not isinstance(text, str):
        return "", ""
    title, _, rest = text.partition(" - ")
    return title.strip(), rest.strip()


class DuckDuckGo(SearchEngine):
    """DuckDuckGo Instant Answers: an abstract and related topics; no key."""

    kind = "duckduckgo"
    default_url = "https://api.duckduckgo.com"

    async def search(self, upstream: Upstream, query: str, count: int) -> list[Result]:
        params = urlencode({"q": query, "format": "json", "no_html": 1, "skip_disambig": 1})
        data = await self.get_json(upstream, f"{self.base_url}/?{params}")
        results = []
        abstract = self.result(
            data.get("Heading"), data.get("AbstractURL"), data.get("AbstractText")
        )
        if abstract is not None:
            results.append(abstract)
        for entry in [*_topics(data.get("Results")), *_topics(data.get("RelatedTopics"))]:
            title, snippet = _split(entry.get("Text"))
            found = self.result(title, entry.get("FirstURL"), snippet)
            if found is not None and found.url not in {r.url for r in results}:
                results.append(found)
        return results[:count]
