"""GET /search and GET /search/provider, and the search half of grounded chat.

`GET /search?q=..&engine=..&type=..&max_results=..` (parameters: engine/search/query.py)
answers `{"engine", "type", "query", "results": [{"title", "url", "snippet", "source",
...}]}` from the engine asked for (else the default) or the first of `search.fallback`
that can, with `x-patchbay-cache: HIT|MISS` while the cache is on.
`GET /search/provider` lists every declared engine with its kind, status, types and
parameters. `grounded` answers a chat request in the light of a web search
(engine/search/grounding.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from engine.http.messages import Request, Response, Stream
from engine.search.base import Query
from engine.search.grounding import CitedStream, cite, prepare
from engine.search.query import parse_query
from engine.search.run import Answer, run_search
from engine.snapshot.model import Plan

Reply = Response | Stream
Answerer = Callable[[Request, Plan, dict[str, Any]], Awaitable[Reply]]  # answers a chat


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


async def grounded(req: Request, plan: Plan, body: dict[str, Any], answer: Answerer) -> Reply:
    """`answer` the chat request with the results of a web search for its question in
    front of it, and the answer's citations of them as `url_citation` annotations."""
    grounding = prepare(body, plan.search)
    if grounding.query is None:
        return await answer(req, plan, grounding.body)  # nothing to search for
    engine = plan.search.engine if plan.search is not None else None
    searched = await search_web(req, grounding.query, engine)
    sources = tuple(searched.results)
    reply = await answer(req, plan, grounding.with_sources(sources))
    reply.headers["x-patchbay-search-engine"] = searched.engine
    if isinstance(reply, Stream):
        cited = CitedStream(sources)
        reply.head, reply.events = cited.feed(reply.head), cited.relay(reply.events)
    else:
        reply.body = cite(reply.body, sources)
    return reply
