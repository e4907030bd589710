"""The `brave` kind: the Brave Search API's web search.

`GET {base_url}/web/search?q=..&count=..` with the key in `X-Subscription-Token` answers
`{"type": "search", "web": {"results": [{"title", "url", "description", ...}]}, ...}`.
Brave gives at most 20 results per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from engine.search.base import Result, SearchEngine

if TYPE_CHECKING:
    from engine.upstream.client import Upstream

MAX_COUNT = 20  # Brave's own cap on `count`


class Brave(SearchEngine):
    """Brave Search; needs a subscription token (`api_key`)."""

    kind = "brave"
    needs_key = True
    default_url = "https://api.search.brave.com/res/v1"

    async def search(self, upstream: Upstream, query: str, count: int) -> list[Result]:
        params = urlencode({"q": query, "count": min(count, MAX_COUNT)})
        # The key goes in a header only: a URL may end up in logs.
        headers = {"X-Subscription-Token": self.spec.api_key or ""}
        data = await self.get_json(upstream, f"{self.base_url}/web/search?{params}", headers)
        web = data.get("web")
        hits = web.get("results") if isinstance(web, dict) else None
        return self.collect(hits, "title", "url", "description")[:count]
