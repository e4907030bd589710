"""One search, start to end: pick the engines, ask the cache, ask each engine in turn.

The engines tried are the one asked for (else `search.default`), then those of
`search.fallback`, each only when active and serving the type. An engine that fails
to connect, times out, answers 429 or 5xx passes the search on to the next; a 4xx
ends it (the request or the engine's configuration is at fault, as with providers).
With `search.cache.ttl`, answers are kept per (engine, type, query, parameters) in the
worker's shared-state store (engine/stores): memory, or Redis with `redis_url`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from engine.errors import GatewayError, InvalidRequest
from engine.search.base import Query, SearchEngine
from engine.search.catalog import Search
from engine.stores.base import Answers

if TYPE_CHECKING:
    from engine.upstream.client import Upstream

FALLS_THROUGH = frozenset({"connect", "timeout", "429", "5xx"})


@dataclass(frozen=True, slots=True)
class Answer:
    """What one engine found for a query, and how it was found."""

    engine: str
    query: Query
    results: list[dict[str, str]]  # each Result.public()
    attempts: int
    cache: str | None  # "HIT" or "MISS"; None when the cache is off

    def public(self) -> dict[str, Any]:
        """The normalised answer: {"engine", "type", "query", "results": [...]}."""
        return {
            "engine": self.engine,
            "type": self.query.type,
            "query": self.query.text,
            "results": self.results,
        }

    def headers(self) -> dict[str, str]:
        headers = {"x-patchbay-provider": self.engine, "x-patchbay-attempts": str(self.attempts)}
        if self.cache is not None:
            headers["x-patchbay-cache"] = self.cache
        return headers


def cache_key(engine: SearchEngine, query: Query) -> str:
    """Everything that shapes an answer: the engine (as configured) and the whole query."""
    spec = engine.spec
    parts = [spec.name, spec.kind, spec.base_url, query.type, query.text, query.max_results]
    parts += [query.page, query.region, query.safesearch, query.time_range]
    return "patchbay:search:" + hashlib.sha256(orjson.dumps(parts)).hexdigest()


def engines_for(search: Search, name: str | None, query: Query) -> list[SearchEngine]:
    """The engines to try, in order. Raises engine_not_found (404) for an unknown or
    inactive engine, and a 400 naming `type` when none of them serves the type."""
    first = search.engine(name)
    if name is not None and query.type not in first.types:
        raise _unsupported(search, query, f"Search engine '{first.name}' does not serve")
    chain: list[SearchEngine] = []
    for candidate in (first.name, *search.fallback):
        engine = search.engines.get(candidate)
        if engine is None or engine in chain or not engine.spec.active:
            continue
        if query.type in engine.types:
            chain.append(engine)
    if not chain:
        raise _unsupported(search, query, f"Search engine '{first.name}' does not serve")
    return chain


def _unsupported(search: Search, query: Query, opening: str) -> InvalidRequest:
    serving = [
        name
        for name, engine in search.engines.items()
        if engine.spec.active and query.type in engine.types
    ]
    offer = f"engines that do: {', '.join(serving)}" if serving else "no active engine does"
    return InvalidRequest(
        f"{opening} type '{query.type}'; {offer}.", param="type", code="unsupported_type"
    )


async def run_search(
    search: Search,
    query: Query,
    name: str | None,
    *,
    upstream: Upstream,
    store: Answers,
) -> Answer:
    """Answer `query` from the first engine that can: from the cache, else by asking it."""
    attempts = 0
    last: GatewayError | None = None
    caching = search.cache_ttl > 0
    for engine in engines_for(search, name, query):
        key = cache_key(engine, query)
        if caching and (kept := await store.get(key)) is not None:
            return Answer(engine.name, query, orjson.loads(kept), attempts, "HIT")
        attempts += 1
        try:
            results = await engine.search(upstream, query)
        except GatewayError as err:
            if err.failure not in FALLS_THROUGH:
                raise
            last = err
            continue
        public = [result.public() for result in results]
        if caching:
            await store.put(key, orjson.dumps(public), search.cache_ttl)
        return Answer(engine.name, query, public, attempts, "MISS" if caching else None)
    assert last is not None  # engines_for never returns an empty chain
    last.headers["x-patchbay-attempts"] = str(attempts)
    raise last
