"""Fake search engines on 127.0.0.1, each speaking its engine's JSON as documented.

- `FakeSearXNG`: `GET /search?q=..&format=json&categories=..&pageno=N`, 20 results a
  page, shaped per category (general, news, images, videos) as SearXNG's JSON output.
- `FakeBrave`: `GET /res/v1/{web,news,images,videos,suggest}/search`, each endpoint's
  response object; checks `X-Subscription-Token` (ErrorResponse 401 quoting the token
  it got, as careless upstreams do) and answers 422 to a `count` or `offset` above the
  endpoint's limit, as Brave's validation does.
- `FakeWikipedia`: `GET /w/api.php?action=query&list=search&...&formatversion=2`.
- DuckDuckGo's three endpoints live in tests/fakes/duckduckgo_server.py.

Every fake answers query `fail` with 500, `limit` with 429 and `Retry-After: 7`,
`garbled` with a body that is not JSON, and `slow` after SLOW_SECONDS; `down = True`
makes it answer 503 to everything, `stalled = True` answer everything late. Result N of query Q has the title `Q result N`.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from aiohttp import web

from tests.fakes import FakeUpstream

BRAVE_TOKEN = "brave-test-token-1234567890"
SEARXNG_PAGE = 20
SLOW_SECONDS = 2.0  # longer than the engines' timeout in the tests
BRAVE_LIMITS = {"web": 20, "news": 50, "images": 200, "videos": 50, "suggest": 20}
Json = dict[str, Any]


class FakeSearchEngine(FakeUpstream):
    """The failures every fake scripts by query, and the `down` switch."""

    down = False
    stalled = False

    async def trouble(self, query: str) -> web.Response | None:
        if self.stalled:
            await asyncio.sleep(SLOW_SECONDS)
        if self.down:
            return web.json_response({"error": "engine is down"}, status=503)
        if query == "fail":
            return web.json_response({"error": "engine exploded"}, status=500)
        if query == "limit":
            return web.json_response(
                {"error": "slow down"}, status=429, headers={"Retry-After": "7"}
            )
        if query == "garbled":
            return web.Response(text="<html>not json</html>", content_type="text/html")
        if query == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        return None


def hit(site: str, query: str, n: int) -> Json:
    return {
        "title": f"{query} result {n}",
        "url": f"https://{site}.example/{quote(query)}/{n}",
        "snippet": f"Snippet {n} about {query}.",
    }


class FakeSearXNG(FakeSearchEngine):
    def setup(self, app: web.Application) -> None:
        app.router.add_get("/search", self.search)

    async def search(self, request: web.Request) -> web.Response:
        query = request.query.get("q", "")
        if request.query.get("format") != "json":
            return web.Response(status=403, text="Forbidden")  # as SearXNG without json
        trouble = await self.trouble(query)
        if trouble is not None:
            return trouble
        category = request.query.get("categories", "general")
        unresponsive = {
            "unresponsive": [["google", "timeout"], ["bing", "timeout"]],
            "overrun": [["google", "Suspended: too many requests"], ["bing", "timeout"]],
            "crashed": [["google", "unexpected crash"]],
        }.get(query)
        first = (int(request.query.get("pageno", "1")) - 1) * SEARXNG_PAGE + 1
        count = 0 if unresponsive or query == "nothing" else SEARXNG_PAGE
        results = [_searx_result(category, query, n) for n in range(first, first + count)]
        return web.json_response(
            {
                "query": query,
                "number_of_results": 0,
                "results": results,
                "answers": [],
                "corrections": [],
                "infoboxes": [],
                "suggestions": [f"{query} tutorial"],
                "unresponsive_engines": unresponsive or [],
            }
        )


def _searx_result(category: str, query: str, n: int) -> Json:
    found = hit("searx", query, n)
    common = {
        "url": found["url"],
        "title": found["title"],
        "content": found["snippet"],
        "engine": "bing",
        "engines": ["bing"],
        "parsed_url": ["https", "searx.example", f"/{quote(query)}/{n}", "", "", ""],
        "template": "default.html",
        "positions": [n],
        "score": 1.0 / n,
        "category": category,
        "publishedDate": None,
        "thumbnail": "",
        "img_src": "",
        "priority": "",
    }
    if category == "news":
        common.update(
            publishedDate=f"2024-05-{n % 28 + 1:02}T08:30:00",
            img_src=f"https://img.example/n{n}.jpg",
        )
    elif category == "images":
        common.update(
            template="images.html",
            content="",
            img_src=f"https://img.example/{n}.jpg",
            thumbnail_src=f"https://img.example/{n}-thumb.jpg",
            resolution="1024 x 768",
            img_format="jpeg",
            source="searx.example",
        )
    elif category == "videos":
        common.update(
            template="videos.html",
            thumbnail=f"https://img.example/v{n}.jpg",
            iframe_src=f"https://video.example/embed/{n}",
            author=f"Channel {n}",
            length=205.0 if n % 2 else "1:02:03",
            publishedDate="2023-11-02T00:00:00",
        )
    return common


class FakeBrave(FakeSearchEngine):
    prefix = "/res/v1"

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/res/v1/{endpoint}/search", self.search)

    async def search(self, request: web.Request) -> web.Response:
        token = request.headers.get("X-Subscription-Token", "")
        if token != BRAVE_TOKEN:
            detail = f"The provided subscription token '{token}' is invalid."
            return _brave_error(401, "SUBSCRIPTION_TOKEN_INVALID", detail)
        endpoint = request.match_info["endpoint"]
        if endpoint not in BRAVE_LIMITS:
            return web.json_response({"type": "ErrorResponse"}, status=404)
        query = request.query.get("q", "")
        trouble = await self.trouble(query)
        if trouble is not None:
            return trouble
        count = int(request.query.get("count", "20"))
        offset = int(request.query.get("offset", "0"))
        if count > BRAVE_LIMITS[endpoint] or offset > 9:
            return _brave_error(422, "VALIDATION", "Unable to validate request parameter(s)")
        numbers = range(offset * count + 1, offset * count + count + 1)
        if endpoint == "web":
            results = [_brave_web(query, n) for n in numbers]
            return web.json_response(
                {
                    "type": "search",
                    "query": {"original": query, "more_results_available": True},
                    "mixed": {"type": "mixed", "main": []},
                    "web": {"type": "search", "results": results, "family_friendly": True},
                }
            )
        build = {
            "news": _brave_news,
            "images": _brave_image,
            "videos": _brave_video,
            "suggest": _brave_suggestion,
        }[endpoint]
        body: Json = {
            "type": endpoint,
            "query": {"original": query, "spellcheck_off": False},
            "results": [build(query, n) for n in numbers],
        }
        if endpoint != "suggest":
            body["extra"] = {"might_be_offensive": False}
        return web.json_response(body)


def _brave_error(status: int, code: str, detail: str) -> web.Response:
    error = {"id": "e1", "status": status, "code": code, "detail": detail, "meta": {}}
    return web.json_response({"type": "ErrorResponse", "error": error}, status=status)


def _meta(url: str) -> Json:
    host = url.split("/")[2]
    return {"scheme": "https", "netloc": host, "hostname": host, "favicon": "", "path": "/x"}


def _brave_web(query: str, n: int) -> Json:
    found = hit("brave", query, n)
    return {
        "type": "search_result",
        "title": found["title"],
        "url": found["url"],
        "description": f"Snippet {n} about <strong>{query}</strong>.",
        "page_age": f"2024-03-0{n % 9 + 1}T10:00:00",
        "age": "March 1, 2024",
        "profile": {"name": f"Brave Site {n}", "url": found["url"], "long_name": "brave.example"},
        "meta_url": _meta(found["url"]),
        "thumbnail": {"src": f"https://imgs.search.brave.com/t{n}", "original": found["url"]},
        "is_source_local": False,
        "language": "en",
        "family_friendly": True,
    }


def _brave_news(query: str, n: int) -> Json:
    found = hit("news.brave", query, n)
    return {
        "type": "news_result",
        "title": found["title"],
        "url": found["url"],
        "description": found["snippet"],
        "age": "2 hours ago",
        "page_age": f"2024-06-0{n % 9 + 1}T07:00:00",
        "meta_url": _meta(found["url"]),
        "thumbnail": {"src": f"https://imgs.search.brave.com/n{n}"},
        "breaking": n == 1,
    }


def _brave_image(query: str, n: int) -> Json:
    found = hit("pics", query, n)
    return {
        "type": "image_result",
        "title": found["title"],
        "url": found["url"],
        "source": "pics.example",
        "page_fetched": "2024-01-01T00:00:00Z",
        "thumbnail": {"src": f"https://imgs.search.brave.com/i{n}", "width": 200, "height": 150},
        "properties": {"url": f"https://pics.example/full/{n}.png", "placeholder": ""},
        "meta_url": _meta(found["url"]),
        "confidence": "high",
    }


def _brave_video(query: str, n: int) -> Json:
    found = hit("videos", query, n)
    return {
        "type": "video_result",
        "url": found["url"],
        "title": found["title"],
        "description": found["snippet"],
        "age": "1 week ago",
        "page_age": "2024-02-02T12:00:00",
        "video": {
            "duration": f"0{n % 10}:3{n % 6}",
            "creator": f"Creator {n}",
            "publisher": "VideoHub",
        },
        "thumbnail": {"src": f"https://imgs.search.brave.com/v{n}"},
        "meta_url": _meta(found["url"]),
    }


def _brave_suggestion(query: str, n: int) -> Json:
    return {"query": f"{query} suggestion {n}", "is_entity": False}


class FakeWikipedia(FakeSearchEngine):
    def setup(self, app: web.Application) -> None:
        app.router.add_get("/w/api.php", self.api)

    async def api(self, request: web.Request) -> web.Response:
        params = request.query
        if (params.get("action"), params.get("list"), params.get("format")) != (
            "query",
            "search",
            "json",
        ):
            return web.json_response({"error": {"code": "badvalue", "info": "unexpected"}})
        query = params.get("srsearch", "")
        trouble = await self.trouble(query)
        if trouble is not None:
            return trouble
        if query in ("ratelimited", "maxlag"):
            # MediaWiki reports its own errors with a 200.
            info = (
                "You've exceeded your rate limit."
                if query == "ratelimited"
                else "Waiting for a database server"
            )
            return web.json_response({"error": {"code": query, "info": info}, "servedby": "mw1"})
        limit, offset = int(params.get("srlimit", "10")), int(params.get("sroffset", "0"))
        search = [
            {
                "ns": 0,
                "title": f"{query.title()} result {n}",
                "pageid": 1000 + n,
                "snippet": f'Article {n} on <span class="searchmatch">{query}</span> &amp; more',
                "timestamp": "2024-04-01T09:00:00Z",
            }
            for n in range(offset + 1, offset + limit + 1)
        ]
        return web.json_response(
            {
                "batchcomplete": True,
                "continue": {"sroffset": offset + limit, "continue": "-||"},
                "query": {"searchinfo": {"totalhits": 500}, "search": search},
            }
        )
