"""Fake search engines on 127.0.0.1, each speaking its documented JSON format.

- `FakeSearXNG`: `GET /search?q=..&format=json&pageno=N`, 20 results per page.
- `FakeBrave`: `GET /res/v1/web/search?q=..&count=N` (at most 20), checks the
  `X-Subscription-Token` header and answers Brave's ErrorResponse (401) when it is wrong,
  quoting the token it got, as careless upstreams do.
- `FakeDuckDuckGo`: `GET /?q=..&format=json`: an abstract, one official link, related
  topics and a named group of nested topics (7 results in all).

Every fake answers query `fail` with 500, `limit` with 429 and `Retry-After: 7`, and
`garbled` with a body that is not JSON. Result N of query Q has the title `Q result N`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from . import FakeUpstream

BRAVE_TOKEN = "brave-test-token-1234567890"
SEARXNG_PAGE = 20
BRAVE_MAX = 20
Json = dict[str, Any]


def _trouble(query: str) -> web.Response | None:
    """The canned failure for a query, if it asks for one."""
    if query == "fail":
        return web.json_response({"error": "engine exploded"}, status=500)
    if query == "limit":
        return web.json_response({"error": "slow down"}, status=429, headers={"Retry-After": "7"})
    if query == "garbled":
        return web.Response(text="<html>not json</html>", content_type="text/html")
    return None


def _hit(site: str, query: str, n: int) -> Json:
    return {
        "title": f"{query} result {n}",
        "url": f"https://{site}.example/{quote(query)}/{n}",
        "snippet": f"Snippet {n} about {query}.",
    }


class FakeSearXNG(FakeUpstream):
    def setup(self, app: web.Application) -> None:
        app.router.add_get("/search", self.search)

    async def search(self, request: web.Request) -> web.Response:
        query = request.query.get("q", "")
        if request.query.get("format") != "json":
            return web.Response(status=403, text="Forbidden")  # as SearXNG without json
        trouble = _trouble(query)
        if trouble is not None:
            return trouble
        page = int(request.query.get("pageno", "1"))
        first = (page - 1) * SEARXNG_PAGE + 1
        results = []
        for n in range(first, first + SEARXNG_PAGE):
            hit = _hit("searx", query, n)
            results.append(
                {
                    "url": hit["url"],
                    "title": hit["title"],
                    "content": hit["snippet"],
                    "engine": "wikipedia",
                    "engines": ["wikipedia"],
                    "parsed_url": ["https", "searx.example", f"/{n}", "", "", ""],
                    "template": "default.html",
                    "positions": [n],
                    "score": 1.0 / n,
                    "category": "general",
                }
            )
        return web.json_response(
            {
                "query": query,
                "number_of_results": 0,
                "results": results,
                "answers": [],
                "corrections": [],
                "infoboxes": [],
                "suggestions": [],
                "unresponsive_engines": [],
            }
        )


class FakeBrave(FakeUpstream):
    prefix = "/res/v1"

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/res/v1/web/search", self.search)

    async def search(self, request: web.Request) -> web.Response:
        token = request.headers.get("X-Subscription-Token", "")
        if token != BRAVE_TOKEN:
            detail = f"The provided subscription token '{token}' is invalid."
            error = {"id": "e1", "status": 401, "code": "SUBSCRIPTION_TOKEN_INVALID"}
            return web.json_response(
                {"type": "ErrorResponse", "error": {**error, "detail": detail, "meta": {}}},
                status=401,
            )
        query = request.query.get("q", "")
        trouble = _trouble(query)
        if trouble is not None:
            return trouble
        count = min(int(request.query.get("count", "20")), BRAVE_MAX)
        results = [
            {
                "type": "search_result",
                "title": hit["title"],
                "url": hit["url"],
                "description": hit["snippet"],
                "is_source_local": False,
                "language": "en",
                "family_friendly": True,
            }
            for hit in (_hit("brave", query, n) for n in range(1, count + 1))
        ]
        return web.json_response(
            {
                "type": "search",
                "query": {"original": query, "more_results_available": True},
                "mixed": {"type": "mixed", "main": []},
                "web": {"type": "search", "results": results, "family_friendly": True},
            }
        )


def _topic(query: str, n: int) -> Json:
    hit = _hit("ddg", query, n)
    text = f"{hit['title']} - {hit['snippet']}"
    icon = {"URL": "", "Height": "", "Width": ""}
    return {"FirstURL": hit["url"], "Text": text, "Result": text, "Icon": icon}


class FakeDuckDuckGo(FakeUpstream):
    def setup(self, app: web.Application) -> None:
        app.router.add_get("/", self.search)

    async def search(self, request: web.Request) -> web.Response:
        query = request.query.get("q", "")
        trouble = _trouble(query)
        if trouble is not None:
            return trouble
        abstract = _hit("ddg", query, 1)
        official = {
            "FirstURL": f"https://{quote(query)}.example/",
            "Text": "Official site",
            "Result": "Official site",
            "Icon": {"URL": "", "Height": 16, "Width": 16},
        }
        group = {"Name": "See also", "Topics": [_topic(query, n) for n in (5, 6, 7)]}
        body = {
            "Abstract": abstract["snippet"],
            "AbstractText": abstract["snippet"],
            "AbstractSource": "Wikipedia",
            "AbstractURL": abstract["url"],
            "Heading": abstract["title"],
            "Answer": "",
            "Definition": "",
            "Image": "",
            "Redirect": "",
            "Type": "A",
            "Results": [official],
            "RelatedTopics": [_topic(query, n) for n in (2, 3, 4)] + [group],
        }
        # The real API labels its JSON application/x-javascript.
        return web.json_response(body, content_type="application/x-javascript")
