"""HTML read with the standard library's parser: fragments to text, and DuckDuckGo's page.

DuckDuckGo's HTML results page (html.duckduckgo.com/html/) marks each hit as

    <div class="result results_links results_links_deep web-result">
      <h2 class="result__title"><a class="result__a" href="//duckduckgo.com/l/?uddg=...">..</a></h2>
      <div class="result__extras__url"><a class="result__url">..</a><span> 2024-05-01T..</span></div>
      <a class="result__snippet" href="...">.. <b>..</b> ..</a>
    </div>

with ads marked `result--ad`, and answers a suspected bot with its "anomaly" challenge.
`ResultPage` reads those classes only, whatever the nesting, unclosed tags included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "wbr"}
)
DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2})?")


def squeeze(pieces: list[str]) -> str:
    """Text pieces joined, runs of whitespace (non-breaking spaces too) made one space."""
    return " ".join("".join(pieces).split())


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []

    def handle_data(self, data: str) -> None:
        self.pieces.append(data)


def strip_tags(fragment: str) -> str:
    """The text of an HTML fragment: tags dropped, entities decoded, whitespace squeezed."""
    if "<" not in fragment and "&" not in fragment:
        return " ".join(fragment.split())
    parser = _Text()
    parser.feed(fragment)
    parser.close()
    return squeeze(parser.pieces)


@dataclass
class Card:
    """One hit as the page shows it; `href` is still DuckDuckGo's redirect link."""

    ad: bool
    href: str = ""
    title: list[str] = field(default_factory=list)
    snippet: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)

    @property
    def published(self) -> str | None:
        found = DATE.search(squeeze(self.extras))
        return found.group(0) if found else None


class ResultPage(HTMLParser):
    """Feed the page; then `cards` holds every hit in order and `challenged` says whether
    DuckDuckGo sent its bot check instead of results."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cards: list[Card] = []
        self.challenged = False
        self._into: list[str] | None = None  # the field being read, while inside it
        self._open: list[str] = []  # tags opened inside the field and not yet closed

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if "anomaly-modal" in classes or attributes.get("id") == "challenge-form":
            self.challenged = True  # DuckDuckGo's bot check
        if self._into is not None:
            if tag not in VOID:
                self._open.append(tag)
            return
        if tag == "div" and "result" in classes:
            self.cards.append(Card(ad="result--ad" in classes))
            return
        if not self.cards:
            return
        card = self.cards[-1]
        if tag == "a" and "result__a" in classes:
            card.href = attributes.get("href") or ""
            self._read(tag, card.title)
        elif "result__snippet" in classes:
            self._read(tag, card.snippet)
        elif "result__extras__url" in classes:
            self._read(tag, card.extras)

    def handle_endtag(self, tag: str) -> None:
        if self._into is None or tag in VOID:
            return
        if tag in self._open:  # an inner tag ends, and with it any left unclosed inside it
            while self._open.pop() != tag:
                pass
        else:  # the field's own end, or its parent's when the field was left unclosed
            self._into = None

    def handle_data(self, data: str) -> None:
        if self._into is not None:
            self._into.append(data)

    def _read(self, tag: str, into: list[str]) -> None:
        if tag not in VOID:
            self._into, self._open = into, []


def read_page(html: str) -> ResultPage:
    page = ResultPage()
    page.feed(html)
    page.close()
    return page
