"""DuckDuckGo's results page read with html.parser: markup that drifts or breaks still
yields the hits it holds; fragments become plain text; the answer cache expires and is
bounded."""

from __future__ import annotations

import pytest

from engine.search.base import EngineSpec
from engine.search.duckduckgo import DuckDuckGo, _target
from engine.search.markup import read_page, strip_tags
from engine.stores.memory import MemoryAnswers


def hits(html: str) -> list[dict[str, str]]:
    engine = DuckDuckGo(EngineSpec("ddg", "duckduckgo", "active", "", None, 5.0))
    found = (engine._card(card) for card in read_page(html).cards if not card.ad)
    return [result.public() for result in found if result is not None]


def test_unclosed_tags_end_with_their_parent() -> None:
    html = """
    <div class="result results_links web-result">
      <h2 class="result__title"><a class="result__a" href="https://one.example/">One <b>bold</h2>
      <div class="result__snippet">First &amp; <i>only</div>
    </div>
    <div class="web-result result"><a class='result__a' href='https://two.example/x'>Two</a>
      <a class="result__snippet">Second</a></div>
    """
    assert hits(html) == [
        {
            "title": "One bold",
            "url": "https://one.example/",
            "snippet": "First & only",
            "source": "one.example",
        },
        {
            "title": "Two",
            "url": "https://two.example/x",
            "snippet": "Second",
            "source": "two.example",
        },
    ]


def test_ads_redirects_and_links_that_lead_nowhere() -> None:
    html = """
    <div class="result result--ad"><a class="result__a" href="https://shop.example/">Ad</a></div>
    <div class="result"><a class="result__a" href="https://duckduckgo.com/y.js?ad_domain=x">Ad 2</a></div>
    <div class="result"><a class="result__a" href="javascript:void(0)">Script</a></div>
    <div class="result"><div class="no-results">No results.</div></div>
    <div class="result"><a class="result__a"
      href="//duckduckgo.com/l/?uddg=https%3A%2F%2Freal.example%2Fa%3Fb%3D1&amp;rut=x">Real</a></div>
    """
    assert [(r["title"], r["url"]) for r in hits(html)] == [("Real", "https://real.example/a?b=1")]


@pytest.mark.parametrize(
    ("href", "target"),
    [
        ("//duckduckgo.com/l/?uddg=https%3A%2F%2Fa.example%2F&rut=1", "https://a.example/"),
        ("https://duckduckgo.com/l/?uddg=http%3A%2F%2Fb.example", "http://b.example"),
        ("https://c.example/page", "https://c.example/page"),
        ("//duckduckgo.com/l/?rut=1", None),
        ("/relative", None),
        ("", None),
    ],
)
def test_result_links(href: str, target: str | None) -> None:
    assert _target(href) == target


def test_the_bot_check_is_recognised() -> None:
    page = read_page('<html><form id="challenge-form" action="/anomaly.js"></form></html>')
    assert page.challenged and page.cards == []
    assert not read_page('<div class="result"></div>').challenged


def test_fragments_become_text() -> None:
    assert strip_tags('On <span class="searchmatch">Python</span> &amp;\n  more') == (
        "On Python & more"
    )
    assert strip_tags("plain   words") == "plain words"
    assert strip_tags("<strong>unclosed") == "unclosed"


@pytest.mark.anyio
async def test_memory_answers_expire_and_stay_bounded() -> None:
    now = [100.0]
    store = MemoryAnswers(clock=lambda: now[0])
    store.max_entries = 2
    await store.put("a", b"A", ttl=10)
    await store.put("b", b"B", ttl=10)
    assert await store.get("a") == b"A"  # "b" is now the least recently used
    await store.put("c", b"C", ttl=10)
    assert (await store.get("b"), await store.get("a"), await store.get("c")) == (None, b"A", b"C")
    now[0] += 10
    assert await store.get("a") is None
