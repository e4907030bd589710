"""The search part of a snapshot: the declared engines and how searches use them.

`Search` is providers.yaml's `search:` block compiled (engine/snapshot/compile.py);
`WebSearch` is an alias's `search:`, which grounds every chat through the alias.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.errors import NotFound
from engine.search.base import SearchEngine


@dataclass(frozen=True, slots=True)
class WebSearch:
    """An alias's `search:`: every chat through it is grounded in a web search first."""

    engine: str | None = None  # None: search.default
    max_results: int = 5


@dataclass(frozen=True, slots=True)
class Search:
    """providers.yaml `search`: every declared engine, active or not, the default, the
    fallback order, and the cache's lifetime (0: no cache) and size."""

    engines: Mapping[str, SearchEngine] = field(default_factory=dict)
    default: str | None = None
    fallback: tuple[str, ...] = ()
    cache_ttl: float = 0.0
    cache_entries: int = 1000

    def active(self) -> list[str]:
        return [name for name, engine in self.engines.items() if engine.spec.active]

    def default_name(self) -> str | None:
        """The engine an unnamed search uses: the default when active, else the first active."""
        active = self.active()
        return self.default if self.default in active else next(iter(active), None)

    def engine(self, name: str | None) -> SearchEngine:
        """The named engine, or `default_name()`'s when `name` is None.

        Raises NotFound (`engine_not_found`, listing the active engines) when the engine
        is unknown, switched off or lacks its key.
        """
        active = self.active()
        if name is None:
            name = self.default_name()
        found = self.engines.get(name) if name is not None else None
        if found is None or name not in active:
            message = (
                f"The search engine '{name}' does not exist or is switched off. "
                f"Active engines: {', '.join(active) or 'none'}."
                if name is not None
                else "No search engine is active."
            )
            raise NotFound(message, param="engine", code="engine_not_found")
        return found
