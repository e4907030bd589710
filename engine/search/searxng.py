"""The `searxng` kind: a SearXNG instance's JSON API (the instance must allow `json`).

`GET {base_url}/search?q=..&format=json&categories=general&pageno=1[&language=en-US]
[&safesearch=0|1|2][&time_range=day|week|month|year]` answers
`{"results": [{"url", "title", "content", "publishedDate", "thumbnail", "img_src",
"thumbnail_src", "length", ...}], "unresponsive_engines": [[name, reason], ...], ...}`.
A page holds what the instance's engines found (often about 20), cut to max_results.
When every engine of the instance failed, SearXNG still answers 200, with no results
and the failures in `unresponsive_engines`: that is a failure here, not an empty page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from engine.errors import GatewayError, RateLimited, UpstreamFailed, UpstreamTimeout
from engine.search.base import Query, Result, SearchEngine, dig, host_of, objects, optional, text

if TYPE_CHECKING:
    from engine.upstream.client import Upstream

CATEGORIES = {"text": "general", "news": "news", "images": "images", "videos": "videos"}
SAFESEARCH = {"off": 0, "moderate": 1, "strict": 2}


def duration(length: Any) -> str | None:
    """A video's length as "M:SS"/"H:MM:SS", from seconds or from SearXNG's own string."""
    if isinstance(length, int | float) and not isinstance(length, bool) and length > 0:
        minutes, seconds = divmod(int(length), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"
    return optional(length)


class SearXNG(SearchEngine):
    """A self-hosted metasearch engine; keyless."""

    kind = "searxng"
    default_url = "http://localhost:8080"
    types = ("text", "news", "images", "videos")
    parameters = ("page", "region", "safesearch", "time_range")

    async def search(self, upstream: Upstream, query: Query) -> list[Result]:
        params: dict[str, Any] = {
            "q": query.text,
            "format": "json",
            "categories": CATEGORIES[query.type],
            "pageno": query.page,
        }
        if query.region is not None:
            params["language"] = f"{query.language}-{query.country}" if query.country else "all"
        if query.safesearch is not None:
            params["safesearch"] = SAFESEARCH[query.safesearch]
        if query.time_range is not None:
            params["time_range"] = query.time_range
        data = await self.get_json(upstream, f"{self.base_url}/search?{urlencode(params)}")
        hits = objects(dig(data, "results"))
        if not hits:
            self._check_engines(dig(data, "unresponsive_engines"))
        found = (self._result(hit, query) for hit in hits)
        return [result for result in found if result is not None][: query.max_results]

    def _result(self, hit: dict[str, Any], query: Query) -> Result | None:
        url = text(hit.get("url"))
        if not url:
            return None
        image = optional(hit.get("img_src")) if query.type == "images" else None
        thumbnail = optional(hit.get("thumbnail_src")) or optional(hit.get("thumbnail"))
        if thumbnail is None and query.type != "images":
            thumbnail = optional(hit.get("img_src"))
        author = text(hit.get("author")) if query.type == "videos" else ""
        return Result(
            title=text(hit.get("title")) or url,
            url=url,
            snippet=text(hit.get("content")),
            source=author or host_of(url),
            published=optional(hit.get("publishedDate")),
            thumbnail=thumbnail,
            image=image,
            duration=duration(hit.get("length")) if query.type == "videos" else None,
        )

    def _check_engines(self, unresponsive: Any) -> None:
        """No results and failed engines: the failure, mapped by what the engines said."""
        reasons = [
            str(entry[1]).lower()
            for entry in (unresponsive if isinstance(unresponsive, list) else [])
            if isinstance(entry, list) and len(entry) > 1
        ]
        if not reasons:
            return  # a page with nothing on it
        message = (
            f"Search engine '{self.name}': every engine it asked failed ({', '.join(reasons)})."
        )
        error: GatewayError
        if all("timeout" in reason for reason in reasons):
            error = UpstreamTimeout(message)
        elif any("too many requests" in reason for reason in reasons):
            error = RateLimited(message, headers={"Retry-After": "60"})
        else:
            error = UpstreamFailed(message)
        raise error
