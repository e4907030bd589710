"""The search-engine contract: one class per engine's wire format, one verb, `search`.

An engine kind turns a query into its upstream's request and the answer into `Result`s.
Engines are declared in providers.yaml under `search.engines`; kinds are code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from engine.errors import UpstreamFailed

if TYPE_CHECKING:
    from engine.upstream.client import Upstream

EngineStatus = Literal["active", "disabled", "missing_key"]


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """A search engine as declared in providers.yaml, with its secret resolved."""

    name: str
    kind: str
    status: EngineStatus
    base_url: str  # "" means the kind's public endpoint
    api_key: str | None = field(repr=False)
    timeout: float

    @property
    def active(self) -> bool:
        return self.status == "active"

    def public(self) -> dict[str, Any]:
        """What `/search/provider` may show: never the key, never a URL."""
        return {"name": self.name, "kind": self.kind, "status": self.status}


@dataclass(frozen=True, slots=True)
class Result:
    """One search hit, whatever engine found it."""

    title: str
    url: str
    snippet: str
    engine: str

    def public(self) -> dict[str, str]:
        return {"title": self.title, "url": self.url, "snippet": self.snippet}


class SearchEngine:
    """Base of every engine kind: `search()` asks the upstream and returns at most `count`."""

    kind: ClassVar[str]
    needs_key: ClassVar[bool] = False
    default_url: ClassVar[str]

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def base_url(self) -> str:
        return (self.spec.base_url or self.default_url).rstrip("/")

    async def search(self, upstream: Upstream, query: str, count: int) -> list[Result]:
        raise NotImplementedError

    async def get_json(
        self, upstream: Upstream, url: str, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """GET `url` and return its JSON object; failures are GatewayErrors, key scrubbed."""
        resp = await upstream.open(
            "GET",
            url,
            provider=self.name,
            headers={"Accept": "application/json", **(headers or {})},
            timeout=self.spec.timeout,
            secret=self.spec.api_key,
        )
        data = await resp.json()
        if not isinstance(data, dict):
            raise UpstreamFailed(
                f"Search engine '{self.name}' sent an answer that is not an object."
            )
        return data

    def collect(self, hits: Any, title: str, url: str, snippet: str) -> list[Result]:
        """Results from a list of upstream objects, reading the three named fields."""
        results = []
        for hit in hits if isinstance(hits, list) else []:
            if isinstance(hit, dict):
                found = self.result(hit.get(title), hit.get(url), hit.get(snippet))
                if found is not None:
                    results.append(found)
        return results

    def result(self, title: Any, url: Any, snippet: Any) -> Result | None:
        """A Result from loosely typed upstream fields; None when there is no usable URL."""
        if not isinstance(url, str) or not url:
            return None
        return Result(
            title=title if isinstance(title, str) and title else url,
            url=url,
            snippet=snippet if isinstance(snippet, str) else "",
            engine=self.name,
        )
