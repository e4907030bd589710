"""The `searxng` kind: a SearXNG instance's JSON API.

`GET {base_url}/search?q=..&format=json&pageno=1` answers `{"results": [{"url", "title",
"content", "engine", ...}], ...}`; the instance must have `json` among its formats.
SearXNG takes no result count, so the first page is cut to `count`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from engine.search.base import Result, SearchEngine

if TYPE_CHECKING:
    from engine.upstream.client import Upstream


class SearXNG(SearchEngine):
    """A self-hosted metasearch engine; keyless."""

    kind = "searxng"
    default_url = "http://localhost:8080"

    async def search(self, upstream: Upstream, query: str, count: int) -> list[Result]:
        params = urlencode({"q": query, "format": "json", "pageno": 1})
        data = await self.get_json(upstream, f"{self.base_url}/search?{params}")
        return self.collect(data.get("results"), "title", "url", "content")[:count]
