"""The search-engine contract: one class per engine's wire format, one verb, `search`.

An engine kind turns a `Query` into its upstream's request and the answer into `Result`s.
Engines are declared in providers.yaml under `search.engines`; kinds are code. Each kind
says which result types it serves and which optional parameters it honours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlsplit

from engine.errors import UpstreamFailed

if TYPE_CHECKING:
    from engine.upstream.client import Upstream, UpstreamResponse

EngineStatus = Literal["active", "disabled", "missing_key"]
SearchType = Literal["text", "news", "images", "videos", "suggestions", "answers"]
Safesearch = Literal["off", "moderate", "strict"]
TimeRange = Literal["day", "week", "month", "year"]

SEARCH_TYPES: tuple[SearchType, ...] = (
    "text",
    "news",
    "images",
    "videos",
    "suggestions",
    "answers",
)
SAFESEARCH: tuple[Safesearch, ...] = ("off", "moderate", "strict")
TIME_RANGES: tuple[TimeRange, ...] = ("day", "week", "month", "year")
# Taken by every engine; the others (page, region, safesearch, time_range) per kind.
COMMON_PARAMETERS = ("q", "type", "max_results")
USER_AGENT = "Mozilla/5.0 (compatible; Patchbay)"  # some engines refuse a bare client name


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """A search engine as declared in providers.yaml, with its secret resolved."""

    name: str
    kind: str
    status: EngineStatus
    base_url: str  # "" means the kind's public endpoint
    api_key: str | None = field(repr=False)
    timeout: float
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # sent with every call

    @property
    def active(self) -> bool:
        return self.status == "active"

    def public(self) -> dict[str, Any]:
        """What `/search/provider` may show: never the key, never a URL."""
        return {"name": self.name, "kind": self.kind, "status": self.status}


@dataclass(frozen=True, slots=True)
class Query:
    """One search as the client asked for it, every parameter already checked."""

    text: str
    type: SearchType = "text"
    max_results: int = 10
    page: int = 1
    region: str | None = None  # "us-en", "de-de", "wt-wt" (no region)
    safesearch: Safesearch | None = None  # None: the engine's own default
    time_range: TimeRange | None = None

    @property
    def country(self) -> str | None:
        """The region's country in capitals ("us-en" -> "US"); None for "wt-wt" or none."""
        if self.region is None or self.region.startswith("wt-"):
            return None
        code = self.region.split("-")[0].upper()
        return "GB" if code == "UK" else code

    @property
    def language(self) -> str | None:
        """The region's language ("us-en" -> "en"); None for "wt-wt" or none."""
        if self.region is None or self.region.startswith("wt-"):
            return None
        return self.region.split("-")[1]


@dataclass(frozen=True, slots=True)
class Result:
    """One hit, whatever engine found it; optional fields are None when the engine gave none."""

    title: str
    url: str
    snippet: str
    source: str
    published: str | None = None  # ISO 8601, as the engine wrote it
    thumbnail: str | None = None
    image: str | None = None  # images: the full-size image (`url` is the page showing it)
    duration: str | None = None  # videos: "M:SS" or "H:MM:SS"

    def public(self) -> dict[str, str]:
        """The normalised result: the four fields always, the optional ones when present."""
        found = {
            "title": self.title,
            "url": self.url,
            "snippet": self.snippet,
            "source": self.source,
            "published": self.published,
            "thumbnail": self.thumbnail,
            "image": self.image,
            "duration": self.duration,
        }
        return {name: value for name, value in found.items() if value is not None}


def text(value: Any) -> str:
    """A string field of an upstream object, or "" when it is missing or not a string."""
    return value.strip() if isinstance(value, str) else ""


def optional(value: Any) -> str | None:
    """A non-empty string field, else None."""
    return text(value) or None


def host_of(url: str) -> str:
    """The host a URL points to, without a leading "www."."""
    return (urlsplit(url).hostname or "").removeprefix("www.")


def dig(data: Any, *path: str) -> Any:
    """`data[path[0]][path[1]]...`, or None as soon as a step is not an object."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def objects(value: Any) -> list[dict[str, Any]]:
    """The objects of a list an upstream sent (anything else in it is skipped)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


class SearchEngine:
    """Base of every engine kind: `search()` asks the upstream, returns at most max_results."""

    kind: ClassVar[str]
    needs_key: ClassVar[bool] = False
    default_url: ClassVar[str]
    types: ClassVar[tuple[SearchType, ...]]
    parameters: ClassVar[tuple[str, ...]]  # what it honours besides COMMON_PARAMETERS

    def __init__(self, spec: EngineSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def base_url(self) -> str:
        return (self.spec.base_url or self.default_url).rstrip("/")

    def describe(self) -> dict[str, Any]:
        """The engine as `/search/provider` lists it."""
        accepted = [*COMMON_PARAMETERS, *self.parameters]
        return {**self.spec.public(), "types": list(self.types), "parameters": accepted}

    async def search(self, upstream: Upstream, query: Query) -> list[Result]:
        raise NotImplementedError

    async def send(
        self,
        upstream: Upstream,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        form: bytes | None = None,
    ) -> UpstreamResponse:
        """GET `url` (POST `form` when given); non-2xx answers are mapped, key scrubbed."""
        sent = {"User-Agent": USER_AGENT, **self.spec.headers, **(headers or {})}
        if form is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        return await upstream.open(
            "POST" if form is not None else "GET",
            url,
            provider=self.name,
            headers=sent,
            body=form,
            timeout=self.spec.timeout,
            secret=self.spec.api_key,
        )

    async def get_json(
        self, upstream: Upstream, url: str, headers: Mapping[str, str] | None = None
    ) -> Any:
        """GET `url` and return its JSON (an object or a list)."""
        resp = await self.send(
            upstream, url, headers={"Accept": "application/json", **(headers or {})}
        )
        data = await resp.json()
        if not isinstance(data, dict | list):
            raise self.garbled("an answer that is neither an object nor a list")
        return data

    def garbled(self, what: str) -> UpstreamFailed:
        return UpstreamFailed(f"Search engine '{self.name}' sent {what}.")
