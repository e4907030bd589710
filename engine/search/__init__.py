"""Search-engine kinds are code, engines are data: this is the registry of kinds."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from engine.search.base import EngineSpec, EngineStatus, Result, SearchEngine
from engine.search.brave import Brave
from engine.search.duckduckgo import DuckDuckGo
from engine.search.searxng import SearXNG


def _registry(*kinds: type[SearchEngine]) -> Mapping[str, type[SearchEngine]]:
    """A read-only kind -> class map; registering a kind twice is a programming error."""
    table: dict[str, type[SearchEngine]] = {}
    for kind in kinds:
        if kind.kind in table:
            raise ValueError(f"search engine kind {kind.kind!r} is registered twice")
        table[kind.kind] = kind
    return MappingProxyType(table)


SEARCH_KINDS = _registry(SearXNG, Brave, DuckDuckGo)

__all__ = ["SEARCH_KINDS", "EngineSpec", "EngineStatus", "Result", "SearchEngine"]
