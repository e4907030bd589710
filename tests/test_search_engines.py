"""Each engine kind, for every type it claims, through a real gateway against its fake:
what it sends, what it makes of the engine's own answer, and how its failures map."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.search_servers import BRAVE_TOKEN
from tests.harness import gateway, write_config
from tests.search_harness import Fakes, running_fakes, search, search_config


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with running_fakes() as running:
        yield running


@pytest.fixture(scope="module")
def base(fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = write_config(tmp_path_factory.mktemp("cfg"), search_config(fakes))
    with gateway(directory, environ={"TEST_BRAVE_KEY": BRAVE_TOKEN}) as url:
        yield url


def first(base: str, **params: str | int) -> dict[str, str]:
    status, _, body = search(base, **params)
    assert status == 200, body
    assert body["type"] == params.get("type", "text")
    return dict(body["results"][0])


# --- SearXNG ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "category", "expected"),
    [
        ("text", "general", {}),
        (
            "news",
            "news",
            {"published": "2024-05-02T08:30:00", "thumbnail": "https://img.example/n1.jpg"},
        ),
        (
            "images",
            "images",
            {
                "snippet": "",
                "image": "https://img.example/1.jpg",
                "thumbnail": "https://img.example/1-thumb.jpg",
            },
        ),
        (
            "videos",
            "videos",
            {
                "source": "Channel 1",
                "thumbnail": "https://img.example/v1.jpg",
                "duration": "3:25",
                "published": "2023-11-02T00:00:00",
            },
        ),
    ],
)
def test_searxng_types(
    base: str, fakes: Fakes, kind: str, category: str, expected: dict[str, str]
) -> None:
    found = first(base, q="zig", engine="searx", type=kind, max_results=3)
    assert found == {
        "title": "zig result 1",
        "url": "https://searx.example/zig/1",
        "snippet": "Snippet 1 about zig.",
        "source": "searx.example",
        **expected,
    }
    sent = fakes.searx.requests[-1]
    assert (sent.path, sent.query) == (
        "/search",
        {"q": "zig", "format": "json", "categories": category, "pageno": "1"},
    )


def test_searxng_parameters_and_hour_long_videos(base: str, fakes: Fakes) -> None:
    status, _, body = search(
        base,
        q="zig",
        engine="searx",
        type="videos",
        page=2,
        region="de-de",
        safesearch="strict",
        time_range="week",
    )
    assert status == 200
    assert [r["title"] for r in body["results"][:2]] == ["zig result 21", "zig result 22"]
    assert body["results"][1]["duration"] == "1:02:03"
    sent = fakes.searx.requests[-1].query
    assert sent["pageno"] == "2"
    assert (sent["language"], sent["safesearch"], sent["time_range"]) == ("de-DE", "2", "week")
    search(base, q="zig", engine="searx", region="wt-wt", safesearch="off")
    assert fakes.searx.requests[-1].query["language"] == "all"
    assert fakes.searx.requests[-1].query["safesearch"] == "0"


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("unresponsive", 504, "upstream_timeout"),
        ("overrun", 429, "rate_limit_exceeded"),
        ("crashed", 502, "upstream_error"),
    ],
)
def test_searxng_whose_engines_all_failed_is_not_an_empty_page(
    base: str, query: str, status: int, code: str
) -> None:
    got, headers, body = search(base, q=query, engine="searx")
    assert (got, body["error"]["code"]) == (status, code)
    assert "searx" in body["error"]["message"]
    if status == 429:
        assert headers["retry-after"] == "60"


def test_searxng_page_with_nothing_is_an_empty_answer(base: str) -> None:
    status, _, body = search(base, q="nothing", engine="searx")
    assert (status, body["results"]) == (200, [])


# --- Brave -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "endpoint", "expected"),
    [
        (
            "text",
            "web",
            {
                "title": "go result 1",
                "url": "https://brave.example/go/1",
                "snippet": "Snippet 1 about go.",
                "source": "Brave Site 1",
                "published": "2024-03-02T10:00:00",
                "thumbnail": "https://imgs.search.brave.com/t1",
            },
        ),
        (
            "news",
            "news",
            {
                "title": "go result 1",
                "url": "https://news.brave.example/go/1",
                "snippet": "Snippet 1 about go.",
                "source": "news.brave.example",
                "published": "2024-06-02T07:00:00",
                "thumbnail": "https://imgs.search.brave.com/n1",
            },
        ),
        (
            "images",
            "images",
            {
                "title": "go result 1",
                "url": "https://pics.example/go/1",
                "snippet": "",
                "source": "pics.example",
                "image": "https://pics.example/full/1.png",
                "thumbnail": "https://imgs.search.brave.com/i1",
            },
        ),
        (
            "videos",
            "videos",
            {
                "title": "go result 1",
                "url": "https://videos.example/go/1",
                "snippet": "Snippet 1 about go.",
                "source": "Creator 1",
                "published": "2024-02-02T12:00:00",
                "thumbnail": "https://imgs.search.brave.com/v1",
                "duration": "01:31",
            },
        ),
        (
            "suggestions",
            "suggest",
            {
                "title": "go suggestion 1",
                "url": "https://search.brave.com/search?q=go+suggestion+1",
                "snippet": "",
                "source": "Brave Search",
            },
        ),
    ],
)
def test_brave_types(
    base: str, fakes: Fakes, kind: str, endpoint: str, expected: dict[str, str]
) -> None:
    assert first(base, q="go", engine="brave", type=kind, max_results=4) == expected
    sent = fakes.brave.requests[-1]
    assert (sent.path, sent.query) == (f"/res/v1/{endpoint}/search", {"q": "go", "count": "4"})
    assert sent.headers["X-Subscription-Token"] == BRAVE_TOKEN


def test_brave_parameters_per_endpoint(base: str, fakes: Fakes) -> None:
    asked = {"region": "us-en", "safesearch": "moderate", "time_range": "day", "page": 3}
    status, _, body = search(base, q="go", engine="brave", max_results=5, **asked)
    assert status == 200
    assert body["results"][0]["title"] == "go result 11"
    assert fakes.brave.requests[-1].query == {
        "q": "go",
        "count": "5",
        "country": "US",
        "search_lang": "en",
        "safesearch": "moderate",
        "offset": "2",
        "freshness": "pd",
    }
    search(base, q="go", engine="brave", type="images", max_results=5, **asked)
    assert fakes.brave.requests[-1].query == {
        "q": "go",
        "count": "5",
        "country": "US",
        "search_lang": "en",
        "safesearch": "strict",
    }
    search(base, q="go", engine="brave", type="suggestions", max_results=5, **asked)
    assert fakes.brave.requests[-1].query == {
        "q": "go",
        "count": "5",
        "country": "US",
        "lang": "en",
    }
    search(base, q="go", engine="brave", region="wt-wt")
    assert fakes.brave.requests[-1].query["country"] == "ALL"


def test_brave_counts_are_capped_per_endpoint(base: str, fakes: Fakes) -> None:
    status, _, body = search(base, q="go", engine="brave", max_results=50)
    assert (status, len(body["results"])) == (200, 20)
    assert fakes.brave.requests[-1].query["count"] == "20"
    status, _, body = search(base, q="go", engine="brave", type="news", max_results=50)
    assert (status, len(body["results"])) == (200, 50)


def test_brave_key_never_shows(base: str) -> None:
    _, _, body = search(base, q="go", engine="brave")
    assert BRAVE_TOKEN not in str(body)


# --- DuckDuckGo ------------------------------------------------------------------------


def test_duckduckgo_text_reads_the_results_page(base: str, fakes: Fakes) -> None:
    status, headers, body = search(base, q="rust lang")
    assert (status, body["engine"], headers["x-patchbay-provider"]) == (200, "ddg", "ddg")
    results = body["results"]
    assert [r["title"] for r in results] == [f"rust lang result {n}" for n in range(1, 11)]
    assert results[0] == {
        "title": "rust lang result 1",
        "url": "https://ddg.example/rust%20lang/1",
        "snippet": "Snippet 1 about rust lang & friends.",
        "source": "ddg.example",
    }
    assert results[1]["published"] == "2024-05-02T00:00:00"
    assert results[2]["url"] == "https://ddg.example/rust%20lang/3"  # a direct link
    assert "shop.example" not in str(body)  # the ad
    sent = fakes.ddg.requests[-1]
    assert (sent.method, sent.path, sent.body) == ("POST", "/html/", b"q=rust+lang")


def test_duckduckgo_text_parameters_and_next_page(base: str, fakes: Fakes) -> None:
    status, _, body = search(
        base, q="zig", page=2, region="de-de", safesearch="off", time_range="month"
    )
    assert status == 200
    assert [r["title"] for r in body["results"]] == [f"zig result {n}" for n in range(11, 21)]
    assert fakes.ddg.requests[-1].body == b"q=zig&kl=de-de&kp=-2&df=m&s=10&dc=11"
    search(base, q="zig", page=3, safesearch="strict")
    assert fakes.ddg.requests[-1].body == b"q=zig&kp=1&s=25&dc=26"


def test_duckduckgo_no_results_bot_check_and_unknown_page(base: str) -> None:
    status, _, body = search(base, q="nothing")
    assert (status, body["results"]) == (200, [])
    status, headers, body = search(base, q="blocked")
    assert (status, headers["retry-after"], body["error"]["code"]) == (
        429,
        "60",
        "rate_limit_exceeded",
    )
    status, _, body = search(base, q="garbled")
    assert (status, body["error"]["code"]) == (502, "upstream_error")


def test_duckduckgo_answers_are_instant_answers(base: str, fakes: Fakes) -> None:
    status, _, body = search(base, q="python", type="answers")
    assert status == 200
    results = body["results"]
    assert results[0] == {
        "title": "python result 1",
        "url": "https://ddg.example/python/1",
        "snippet": "Snippet 1 about python.",
        "source": "Wikipedia",
        "thumbnail": "https://duckduckgo.com/i/abstract.png",
    }
    assert results[1] == {
        "title": "Official site",
        "url": "https://python.example/",
        "snippet": "",
        "source": "python.example",
    }
    assert [r["title"] for r in results[2:]] == [f"python result {n}" for n in range(2, 8)]
    sent = fakes.ddg.requests[-1]
    assert (sent.path, sent.query) == (
        "/",
        {"q": "python", "format": "json", "no_html": "1", "skip_disambig": "1"},
    )
    _, _, body = search(base, q="2+2", type="answers")
    assert body["results"][0]["snippet"] == "2 + 2 = 4"


def test_duckduckgo_suggestions(base: str, fakes: Fakes) -> None:
    status, _, body = search(base, q="py", type="suggestions", region="us-en", max_results=2)
    assert status == 200
    assert body["results"] == [
        {
            "title": "py tutorial",
            "url": "https://duckduckgo.com/?q=py+tutorial",
            "snippet": "",
            "source": "DuckDuckGo",
        },
        {
            "title": "py download",
            "url": "https://duckduckgo.com/?q=py+download",
            "snippet": "",
            "source": "DuckDuckGo",
        },
    ]
    sent = fakes.ddg.requests[-1]
    assert (sent.path, sent.query) == ("/ac/", {"q": "py", "kl": "us-en"})


# --- Wikipedia -------------------------------------------------------------------------


def test_wikipedia_text(base: str, fakes: Fakes) -> None:
    status, _, body = search(base, q="python", engine="wiki", max_results=5, page=2)
    assert status == 200
    assert body["results"][0] == {
        "title": "Python result 6",
        "url": f"{fakes.wiki.url}/wiki/Python_result_6",
        "snippet": "Article 6 on python & more",
        "source": "127.0.0.1",
    }
    assert len(body["results"]) == 5
    sent = fakes.wiki.requests[-1]
    assert (sent.path, sent.query) == (
        "/w/api.php",
        {
            "action": "query",
            "list": "search",
            "srsearch": "python",
            "srlimit": "5",
            "sroffset": "5",
            "srprop": "snippet|timestamp",
            "format": "json",
            "formatversion": "2",
        },
    )


def test_wikipedia_errors_sent_with_a_200_are_failures(base: str) -> None:
    status, headers, body = search(base, q="ratelimited", engine="wiki")
    assert (status, headers["retry-after"]) == (429, "60")
    assert "rate limit" in body["error"]["message"]
    status, _, body = search(base, q="maxlag", engine="wiki")
    assert (status, body["error"]["code"]) == (502, "upstream_error")


# --- Failures, every engine ------------------------------------------------------------

ENGINE_TYPES = [
    ("searx", "news"),
    ("brave", "videos"),
    ("ddg", "text"),
    ("ddg", "answers"),
    ("ddg", "suggestions"),
    ("wiki", "text"),
]


@pytest.mark.parametrize(("engine", "kind"), ENGINE_TYPES)
def test_engine_failures_are_mapped(base: str, engine: str, kind: str) -> None:
    status, _, body = search(base, q="fail", engine=engine, type=kind)
    assert (status, body["error"]["code"]) == (502, "upstream_error")
    assert engine in body["error"]["message"]
    status, headers, body = search(base, q="limit", engine=engine, type=kind)
    assert (status, headers["retry-after"], body["error"]["code"]) == (
        429,
        "7",
        "rate_limit_exceeded",
    )
    status, _, body = search(base, q="garbled", engine=engine, type=kind)
    assert (status, body["error"]["code"]) == (502, "upstream_error")


@pytest.mark.parametrize("engine", ["searx", "brave", "ddg", "wiki"])
def test_engine_timeouts_are_504(base: str, engine: str) -> None:
    status, _, body = search(base, q="slow", engine=engine)
    assert (status, body["error"]["code"]) == (504, "upstream_timeout")
