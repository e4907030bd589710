"""The `brave` kind: the Brave Search API, one endpoint per type.

`GET {base_url}/{web,news,images,videos,suggest}/search?q=..&count=..` with the key in
`X-Subscription-Token`. Web answers `{"type": "search", "web": {"results": [...]}}`;
the others `{"type": "news"|"images"|"videos"|"suggest", "results": [...]}`. Results carry
`title`, `url`, `description` (with `<strong>` marks), `page_age` (ISO 8601),
`thumbnail.src`, `meta_url.hostname`, `profile.name`; images add `properties.url` (the
image itself) and `source`; videos add `video.duration`, `video.creator`; suggestions
are `{"query"}`. Each endpoint caps `count` on its own; `offset` counts pages from 0,
up to 9 (the images endpoint takes none); images know only `off` and `strict`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from engine.search.base import (
    Query,
    Result,
    SearchEngine,
    SearchType,
    dig,
    host_of,
    objects,
    optional,
    text,
)
from engine.search.markup import strip_tags

if TYPE_CHECKING:
    from engine.upstream.client import Upstream

ENDPOINTS: dict[SearchType, str] = {
    "text": "web",
    "news": "news",
    "images": "images",
    "videos": "videos",
    "suggestions": "suggest",
}
MAX_COUNT: dict[SearchType, int] = {
    "text": 20,
    "news": 50,
    "images": 200,
    "videos": 50,
    "suggestions": 20,
}
FRESHNESS = {"day": "pd", "week": "pw", "month": "pm", "year": "py"}
WEB_PAGE = "https://search.brave.com/search"  # where a suggested query leads


class Brave(SearchEngine):
    """Brave Search; needs a subscription token (`api_key`)."""

    kind = "brave"
    needs_key = True
    default_url = "https://api.search.brave.com/res/v1"
    types = ("text", "news", "images", "videos", "suggestions")
    parameters = ("page", "region", "safesearch", "time_range")

    async def search(self, upstream: Upstream, query: Query) -> list[Result]:
        endpoint = ENDPOINTS[query.type]
        params = urlencode(self._params(query))
        # The key goes in a header only: a URL may end up in logs.
        headers = {"X-Subscription-Token": self.spec.api_key or ""}
        url = f"{self.base_url}/{endpoint}/search?{params}"
        data = await self.get_json(upstream, url, headers)
        hits = dig(data, "web", "results") if query.type == "text" else dig(data, "results")
        build = self._suggestion if query.type == "suggestions" else self._result
        found = (build(hit, query) for hit in objects(hits))
        return [result for result in found if result is not None][: query.max_results]

    def _params(self, query: Query) -> dict[str, Any]:
        params: dict[str, Any] = {
            "q": query.text,
            "count": min(query.max_results, MAX_COUNT[query.type]),
        }
        if query.country is not None or query.region is not None:
            params["country"] = query.country or "ALL"
        if query.language is not None:
            params["lang" if query.type == "suggestions" else "search_lang"] = query.language
        if query.type == "suggestions":
            return params
        if query.safesearch is not None:
            images = query.type == "images" and query.safesearch == "moderate"
            params["safesearch"] = "strict" if images else query.safesearch
        if query.type != "images":
            if query.page > 1:
                params["offset"] = query.page - 1
            if query.time_range is not None:
                params["freshness"] = FRESHNESS[query.time_range]
        return params

    def _result(self, hit: dict[str, Any], query: Query) -> Result | None:
        url = text(hit.get("url"))
        if not url:
            return None
        video = hit.get("video") if query.type == "videos" else None
        source = (
            text(dig(video, "creator"))
            or text(dig(video, "publisher"))
            or text(dig(hit, "profile", "name"))
            or text(hit.get("source"))
            or text(dig(hit, "meta_url", "hostname"))
        )
        return Result(
            title=strip_tags(text(hit.get("title"))) or url,
            url=url,
            snippet=strip_tags(text(hit.get("description"))),
            source=source.removeprefix("www.") or host_of(url),
            published=optional(hit.get("page_age")),
            thumbnail=optional(dig(hit, "thumbnail", "src")),
            image=optional(dig(hit, "properties", "url")) if query.type == "images" else None,
            duration=optional(dig(video, "duration")),
        )

    def _suggestion(self, hit: dict[str, Any], query: Query) -> Result | None:
        suggested = text(hit.get("query"))
        if not suggested:
            return None
        return Result(
            title=suggested,
            url=f"{WEB_PAGE}?{urlencode({'q': suggested})}",
            snippet=strip_tags(text(hit.get("description"))),
            source="Brave Search",
        )
