"""The `wikipedia` kind: the MediaWiki search API of a wiki (English Wikipedia by default).

`GET {base_url}/w/api.php?action=query&list=search&srsearch=..&srlimit=N&sroffset=M
&srprop=snippet|timestamp&format=json&formatversion=2` answers
`{"query": {"searchinfo": {"totalhits"}, "search": [{"title", "pageid", "snippet",
"timestamp"}]}, "continue": {...}}`; snippets mark matches with
`<span class="searchmatch">`. MediaWiki reports its errors with a 200 and
`{"error": {"code", "info"}}`: `ratelimited` is a 429 here, any other a 502.
The article of a hit is `{base_url}/wiki/{title with "_" for " "}`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from engine.errors import RateLimited, UpstreamFailed
from engine.search.base import Query, Result, SearchEngine, dig, host_of, objects, text
from engine.search.markup import strip_tags

if TYPE_CHECKING:
    from engine.upstream.client import Upstream

RATE_LIMITED_RETRY = "60"  # seconds; MediaWiki does not say


class Wikipedia(SearchEngine):
    """A MediaWiki site's full-text search; keyless. `base_url` picks the wiki."""

    kind = "wikipedia"
    default_url = "https://en.wikipedia.org"
    types = ("text",)
    parameters = ("page",)

    async def search(self, upstream: Upstream, query: Query) -> list[Result]:
        params = {
            "action": "query",
            "list": "search",
            "srsearch": query.text,
            "srlimit": query.max_results,
            "sroffset": (query.page - 1) * query.max_results,
            "srprop": "snippet|timestamp",
            "format": "json",
            "formatversion": 2,
        }
        data = await self.get_json(upstream, f"{self.base_url}/w/api.php?{urlencode(params)}")
        self._check(dig(data, "error"))
        found = (self._result(hit) for hit in objects(dig(data, "query", "search")))
        return [result for result in found if result is not None][: query.max_results]

    def _result(self, hit: dict[str, Any]) -> Result | None:
        title = text(hit.get("title"))
        if not title:
            return None
        url = f"{self.base_url}/wiki/{quote(title.replace(' ', '_'), safe='/:()_,')}"
        return Result(
            title=title,
            url=url,
            snippet=strip_tags(text(hit.get("snippet"))),
            source=host_of(url),
        )

    def _check(self, error: Any) -> None:
        if not isinstance(error, dict):
            return
        code, info = text(error.get("code")), text(error.get("info"))
        message = f"Search engine '{self.name}' answered an error: {code}: {info}"
        if code == "ratelimited":
            raise RateLimited(message, headers={"Retry-After": RATE_LIMITED_RETRY})
        raise UpstreamFailed(message)
