"""Search-engine kinds are code, engines are data: this is the registry of kinds."""

from __future__ import annotations

from engine.registry import registry
from engine.search.base import EngineSpec, EngineStatus, Query, Result, SearchEngine
from engine.search.brave import Brave
from engine.search.duckduckgo import DuckDuckGo
from engine.search.searxng import SearXNG
from engine.search.wikipedia import Wikipedia

SEARCH_KINDS = registry(
    (SearXNG, Brave, DuckDuckGo, Wikipedia), lambda k: k.kind, "search engine kind"
)

__all__ = ["SEARCH_KINDS", "EngineSpec", "EngineStatus", "Query", "Result", "SearchEngine"]
