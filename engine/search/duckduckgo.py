"""The `duckduckgo` kind: keyless, three of DuckDuckGo's endpoints, one per type.

- text: the HTML results page, `POST https://html.duckduckgo.com/html/` with the form
  fields `q`, `kl` (region), `kp` (safesearch 1 / -1 / -2), `df` (d, w, m, y) and, past
  the first page, the offsets `s` and `dc` its "Next" form sends; read by
  engine/search/markup.py. A 202 or the bot check ("anomaly") is a 429.
- answers: the Instant Answer API, `GET https://api.duckduckgo.com/?q=..&format=json
  &no_html=1&skip_disambig=1`: the direct answer, abstract and definition, then the
  official links (`Results`) and `RelatedTopics` (groups `{"Name", "Topics"}` flattened).
- suggestions: `GET https://duckduckgo.com/ac/?q=..&kl=..` -> `[{"phrase": ..}, ...]`.

A `base_url` serves all three, at `/html/`, `/` and `/ac/`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from engine.errors import RateLimited
from engine.search.base import Query, Result, SearchEngine, host_of, objects, optional, text
from engine.search.markup import Card, read_page, squeeze

if TYPE_CHECKING:
    from engine.upstream.client import Upstream

HTML_URL = "https://html.duckduckgo.com/html/"
ANSWERS_URL = "https://api.duckduckgo.com/"
SUGGEST_URL = "https://duckduckgo.com/ac/"
SITE = "https://duckduckgo.com"
SAFESEARCH = {"strict": "1", "moderate": "-1", "off": "-2"}
TIME_RANGE = {"day": "d", "week": "w", "month": "m", "year": "y"}
BLOCKED_RETRY = "60"  # seconds: DuckDuckGo's bot check lasts a while


def _topics(entries: Any) -> Iterator[dict[str, Any]]:
    """Topic entries with groups flattened, in the order DuckDuckGo lists them."""
    for entry in objects(entries):
        if "Topics" in entry:
            yield from _topics(entry["Topics"])
        else:
            yield entry


def _split(value: Any) -> tuple[str, str]:
    """`"Title - what it is"` -> (title, snippet); a text without the dash is the title."""
    title, _, rest = text(value).partition(" - ")
    return title.strip(), rest.strip()


def _target(href: str) -> str | None:
    """The page a result links to: DuckDuckGo's `/l/?uddg=` redirect undone; ads are None."""
    if href.startswith("//"):
        href = "https:" + href
    parts = urlsplit(href)
    if (parts.hostname or "").endswith("duckduckgo.com"):
        if parts.path.startswith("/y.js"):
            return None  # an ad's click-through
        href = parse_qs(parts.query).get("uddg", [""])[0]
        parts = urlsplit(href)
    return href if parts.scheme in ("http", "https") and parts.hostname else None


def _image(path: Any) -> str | None:
    """Instant answers give images as paths on duckduckgo.com."""
    found = text(path)
    return SITE + found if found.startswith("/") else optional(found)


def _answer(heading: str, url: Any, said: Any, source: Any, image: Any = None) -> Result | None:
    """The direct answer, the abstract or the definition; None when it has no link or text."""
    link, snippet = text(url), text(said)
    if not link or not snippet:
        return None
    return Result(
        title=heading,
        url=link,
        snippet=snippet,
        source=text(source) or host_of(link),
        thumbnail=_image(image),
    )


def _topic(entry: dict[str, Any]) -> Result | None:
    """A related topic ("Title - what it is") or an official link (a bare title)."""
    url = text(entry.get("FirstURL"))
    title, snippet = _split(entry.get("Text"))
    if not url or not title:
        return None
    icon = entry.get("Icon")
    return Result(
        title=title,
        url=url,
        snippet=snippet,
        source=host_of(url),
        thumbnail=_image(icon.get("URL")) if isinstance(icon, dict) else None,
    )


def instant_answers(data: dict[str, Any], query: Query) -> list[Result]:
    """Results from an Instant Answer API answer, in the order DuckDuckGo ranks them."""
    heading = text(data.get("Heading")) or query.text
    here = f"{SITE}/?{urlencode({'q': query.text})}"
    found = [
        _answer(heading, here, data.get("Answer"), "DuckDuckGo"),
        _answer(
            heading,
            data.get("AbstractURL"),
            data.get("AbstractText"),
            data.get("AbstractSource"),
            data.get("Image"),
        ),
        _answer(
            heading, data.get("DefinitionURL"), data.get("Definition"), data.get("DefinitionSource")
        ),
        *(_topic(entry) for entry in _topics(data.get("Results"))),
        *(_topic(entry) for entry in _topics(data.get("RelatedTopics"))),
    ]
    results, seen = [], set()
    for result in found:
        if result is not None and (result.url, result.snippet) not in seen:
            seen.add((result.url, result.snippet))
            results.append(result)
    return results


class DuckDuckGo(SearchEngine):
    """DuckDuckGo's results page, instant answers and suggestions; no key."""

    kind = "duckduckgo"
    default_url = ""
    types = ("text", "answers", "suggestions")
    parameters = ("page", "region", "safesearch", "time_range")

    def _url(self, path: str, default: str) -> str:
        return f"{self.spec.base_url.rstrip('/')}{path}" if self.spec.base_url else default

    async def search(self, upstream: Upstream, query: Query) -> list[Result]:
        if query.type == "answers":
            found = await self._answers(upstream, query)
        elif query.type == "suggestions":
            found = await self._suggestions(upstream, query)
        else:
            found = await self._web(upstream, query)
        return found[: query.max_results]

    async def _web(self, upstream: Upstream, query: Query) -> list[Result]:
        form = {"q": query.text}
        if query.region is not None:
            form["kl"] = query.region
        if query.safesearch is not None:
            form["kp"] = SAFESEARCH[query.safesearch]
        if query.time_range is not None:
            form["df"] = TIME_RANGE[query.time_range]
        if query.page > 1:
            offset = 10 + (query.page - 2) * 15  # the first page shows 10, the next ones 15
            form.update(s=str(offset), dc=str(offset + 1))
        resp = await self.send(
            upstream, self._url("/html/", HTML_URL), form=urlencode(form).encode()
        )
        page = read_page((await resp.read()).decode("utf-8", "replace"))
        if resp.status == 202 or page.challenged:
            raise RateLimited(
                f"Search engine '{self.name}' asked for a bot check instead of results.",
                headers={"Retry-After": BLOCKED_RETRY},
            )
        if not page.cards:  # not even the no-results card: a page this reader does not know
            raise self.garbled("a page without DuckDuckGo's result markup")
        found = (self._card(card) for card in page.cards if not card.ad)
        return [result for result in found if result is not None]

    def _card(self, card: Card) -> Result | None:
        url = _target(card.href)
        if url is None:
            return None
        return Result(
            title=squeeze(card.title) or url,
            url=url,
            snippet=squeeze(card.snippet),
            source=host_of(url),
            published=card.published,
        )

    async def _answers(self, upstream: Upstream, query: Query) -> list[Result]:
        params = urlencode({"q": query.text, "format": "json", "no_html": 1, "skip_disambig": 1})
        data = await self.get_json(upstream, f"{self._url('/', ANSWERS_URL)}?{params}")
        if not isinstance(data, dict):
            raise self.garbled("instant answers that are not an object")
        return instant_answers(data, query)

    async def _suggestions(self, upstream: Upstream, query: Query) -> list[Result]:
        params = {"q": query.text, **({"kl": query.region} if query.region else {})}
        data = await self.get_json(
            upstream, f"{self._url('/ac/', SUGGEST_URL)}?{urlencode(params)}"
        )
        phrases = (text(entry.get("phrase")) for entry in objects(data))
        return [
            Result(
                title=phrase,
                url=f"{SITE}/?{urlencode({'q': phrase})}",
                snippet="",
                source="DuckDuckGo",
            )
            for phrase in phrases
            if phrase
        ]
