"""GET /search and GET /search/provider: web search over the engines in providers.yaml.

`GET /search?q=..&engine=..&type=..&max_results=..` (parameters: engine/search/query.py)
answers `{"engine", "type", "query", "results": [{"title", "url", "snippet", "source",
...}]}` from the engine asked for (else the default) or the first of `search.fallback`
that can, with `x-patchbay-cache: HIT|MISS` while the cache is on.
`GET /search/provider` lists every declared engine with its kind, status, types and
parameters. `grounded` answers a chat request in the light of a web search
(engine/search/grounding.py).
"""

from __future__ import annotations

from engine.http.messages import Request, Response
from engine.search.base import Query
from engine.search.query import parse_query
from engine.search.run import Answer, run_search


async def query(req: Request) -> Response:
    answer = await search_web(req, *parse_query(req.query()))
    return Response.json(answer.public(), headers=answer.headers())


async def list_engines(req: Request) -> Response:
    search = req.snapshot.search
    default = search.default_name()
    data = [
        {**engine.describe(), "default": name == default} for name, engine in search.engines.items()
    ]
    return Response.json(
        {
            "object": "list",
            "default": default,
            "fallback": list(search.fallback),
            "cache_ttl": search.cache_ttl,
            "data": data,
        }
    )


async def search_web(req: Request, asked: Query, engine: str | None) -> Answer:
    """`run_search` on the request's snapshot, with this worker's client and cache."""
    search = req.snapshot.search
    redis_url = req.snapshot.settings.redis_url
    store = await req.services.state.answers(redis_url, search.cache_entries)
    return await run_search(search, asked, engine, upstream=req.services.upstream, store=store)
