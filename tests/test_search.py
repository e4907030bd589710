"""GET /search and GET /search/provider through a real gateway: parameters, the engine
listing, fallback across engines and the cache, proven by counting the fakes' hits."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes.search_servers import BRAVE_TOKEN
from tests.harness import free_port, gateway, write_config
from tests.search_harness import Fakes, engines, get, running_fakes, search, search_config


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with running_fakes() as running:
        yield running


@pytest.fixture(autouse=True)
def brave_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_BRAVE_KEY", BRAVE_TOKEN)


def serve(tmp_path: Path, config: dict[str, Any], **server: Any) -> Any:
    return gateway(write_config(tmp_path / "cfg", config, server=server or None))


@pytest.fixture
def config_dir(tmp_path: Path, fakes: Fakes) -> Path:
    return write_config(tmp_path / "cfg", search_config(fakes))


@pytest.fixture
def base(config_dir: Path) -> Iterator[str]:
    with gateway(config_dir) as url:
        yield url


# --- Parameters ------------------------------------------------------------------------

BAD = [
    ({}, "q"),
    ({"q": ""}, "q"),
    ({"q": "   "}, "q"),
    ({"q": "x" * 10240}, "q"),
    ({"q": "x" * 401}, "q"),
    ({"q": "x", "type": "maps"}, "type"),
    ({"q": "x", "max_results": "0"}, "max_results"),
    ({"q": "x", "max_results": "1000"}, "max_results"),
    ({"q": "x", "max_results": "x"}, "max_results"),
    ({"q": "x", "max_results": "2.5"}, "max_results"),
    ({"q": "x", "max_results": "-1"}, "max_results"),
    ({"q": "x", "count": "51"}, "count"),
    ({"q": "x", "safesearch": "medium"}, "safesearch"),
    ({"q": "x", "page": "0"}, "page"),
    ({"q": "x", "page": "11"}, "page"),
    ({"q": "x", "region": "germany"}, "region"),
    ({"q": "x", "time_range": "decade"}, "time_range"),
]


@pytest.mark.parametrize(("params", "param"), BAD)
def test_bad_parameters_are_400_naming_them(
    base: str, fakes: Fakes, params: dict[str, str], param: str
) -> None:
    status, _, body = search(base, **params)
    assert status == 400
    assert (body["error"]["param"], body["error"]["type"]) == (param, "invalid_request_error")
    assert f"'{param}'" in body["error"]["message"]
    assert sum(fakes.hits().values()) == 0  # no engine was asked


def test_type_an_engine_does_not_serve_is_400_listing_those_that_do(base: str) -> None:
    status, _, body = search(base, q="x", engine="ddg", type="news")
    assert status == 400
    error = body["error"]
    assert (error["param"], error["code"]) == ("type", "unsupported_type")
    assert error["message"] == (
        "Search engine 'ddg' does not serve type 'news'; engines that do: searx, brave."
    )


def test_unknown_engine_is_404_listing_active_engines(base: str) -> None:
    status, _, body = search(base, q="x", engine="bing")
    assert status == 404
    error = body["error"]
    assert (error["code"], error["param"]) == ("engine_not_found", "engine")
    assert "'bing'" in error["message"]
    assert "searx, brave, ddg, wiki" in error["message"]


def test_count_is_still_accepted_and_max_results_defaults_to_ten(base: str) -> None:
    assert len(search(base, q="a", engine="searx", count=3)[2]["results"]) == 3
    assert len(search(base, q="a", engine="searx")[2]["results"]) == 10
    assert len(search(base, q="a", engine="searx", max_results=2, count=5)[2]["results"]) == 2


def test_answer_shape(base: str) -> None:
    status, headers, body = search(base, q="  zig  ", engine="searx", max_results=1)
    assert status == 200
    assert set(body) == {"engine", "type", "query", "results"}
    assert (body["engine"], body["type"], body["query"]) == ("searx", "text", "zig")
    assert (headers["x-patchbay-provider"], headers["x-patchbay-attempts"]) == ("searx", "1")
    assert "x-patchbay-cache" not in headers  # no cache declared


# --- The engine listing ----------------------------------------------------------------


def test_provider_lists_kind_status_types_and_parameters(base: str) -> None:
    status, _, body = get(base + "/search/provider")
    assert status == 200
    assert (body["object"], body["default"], body["fallback"], body["cache_ttl"]) == (
        "list",
        "ddg",
        [],
        0,
    )
    common = ["q", "type", "max_results"]
    every = [*common, "page", "region", "safesearch", "time_range"]
    assert body["data"] == [
        {
            "name": "searx",
            "kind": "searxng",
            "status": "active",
            "default": False,
            "types": ["text", "news", "images", "videos"],
            "parameters": every,
        },
        {
            "name": "brave",
            "kind": "brave",
            "status": "active",
            "default": False,
            "types": ["text", "news", "images", "videos", "suggestions"],
            "parameters": every,
        },
        {
            "name": "ddg",
            "kind": "duckduckgo",
            "status": "active",
            "default": True,
            "types": ["text", "answers", "suggestions"],
            "parameters": every,
        },
        {
            "name": "wiki",
            "kind": "wikipedia",
            "status": "active",
            "default": False,
            "types": ["text"],
            "parameters": [*common, "page"],
        },
    ]
    assert BRAVE_TOKEN not in json.dumps(body)


def test_missing_key_marks_engine_and_refuses_it(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_BRAVE_KEY")
    with serve(tmp_path, search_config(fakes)) as base:
        assert engines(base)["brave"]["status"] == "missing_key"
        status, _, body = search(base, q="x", engine="brave")
        assert (status, body["error"]["code"]) == (404, "engine_not_found")
        assert "searx, ddg, wiki" in body["error"]["message"]
    assert fakes.brave.requests == []


def test_disabled_default_falls_back_to_first_active(tmp_path: Path, fakes: Fakes) -> None:
    ddg = {"kind": "duckduckgo", "base_url": fakes.ddg.url, "enabled": False}
    with serve(tmp_path, search_config(fakes, engines={"ddg": ddg})) as base:
        status, _, body = search(base, q="x")
        assert (status, body["engine"]) == (200, "searx")
        assert get(base + "/search/provider")[2]["default"] == "searx"


def wait_for(check: Any, deadline: float = 10.0) -> None:
    """Poll `check()` until it is true; the watcher applies edits within a moment."""
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise AssertionError("the edit was not applied in time")
        time.sleep(0.05)


def test_engines_follow_live_edits(base: str, config_dir: Path) -> None:
    assert search(base, q="x", engine="searx")[0] == 200
    path = config_dir / "providers.yaml"
    config = yaml.safe_load(path.read_text())
    config["search"]["engines"]["searx"]["enabled"] = False
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    wait_for(lambda: engines(base)["searx"]["status"] == "disabled")
    status, _, body = search(base, q="x", engine="searx")
    assert (status, body["error"]["code"]) == (404, "engine_not_found")

    del config["search"]["engines"]["searx"]
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    wait_for(lambda: "searx" not in engines(base))
    assert search(base, q="x", engine="brave")[0] == 200


def test_unreachable_engine_is_502(tmp_path: Path, fakes: Fakes) -> None:
    closed = {"kind": "searxng", "base_url": f"http://127.0.0.1:{free_port()}"}
    with serve(tmp_path, search_config(fakes, engines={"searx": closed})) as base:
        status, _, body = search(base, q="x", engine="searx")
    assert (status, body["error"]["code"]) == (502, "upstream_unreachable")


def test_wrong_key_is_relayed_without_the_key(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_BRAVE_KEY", "wrong-secret-key-abcdef")
    with serve(tmp_path, search_config(fakes, fallback=["ddg"])) as base:
        status, _, body = search(base, q="x", engine="brave")
        listing = get(base + "/search/provider")[2]
    assert status == 401  # a 4xx is not passed on to the fallback engines
    assert "subscription token" in body["error"]["message"]
    assert fakes.brave.requests[-1].headers["X-Subscription-Token"] == "wrong-secret-key-abcdef"
    assert "wrong-secret-key-abcdef" not in json.dumps(body) + json.dumps(listing)
    assert fakes.ddg.requests == []


def test_engine_headers_are_sent_with_every_call(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_CONTACT", "ops@example.org")
    wiki = {
        "kind": "wikipedia",
        "base_url": fakes.wiki.url,
        "headers": {"User-Agent": "ExampleBot/1.0 (${TEST_CONTACT})", "X-Unset": "${NO_SUCH}"},
    }
    with serve(tmp_path, search_config(fakes, engines={"wiki": wiki})) as base:
        assert search(base, q="x", engine="wiki")[0] == 200
        assert search(base, q="x", engine="searx")[0] == 200
    sent = fakes.wiki.requests[-1].headers
    assert sent["User-Agent"] == "ExampleBot/1.0 (ops@example.org)"
    assert "X-Unset" not in sent
    assert fakes.searx.requests[-1].headers["User-Agent"] == "Mozilla/5.0 (compatible; Patchbay)"


# --- Fallback --------------------------------------------------------------------------


def test_fallback_passes_a_failed_search_on_in_order(tmp_path: Path, fakes: Fakes) -> None:
    config = search_config(fakes, fallback=["searx", "brave", "wiki"])
    with serve(tmp_path, config) as base:
        fakes.ddg.down = True
        fakes.searx.down = True
        status, headers, body = search(base, q="python")
        assert (status, body["engine"], headers["x-patchbay-attempts"]) == (200, "brave", "3")
        assert body["results"][0]["url"] == "https://brave.example/python/1"
        assert fakes.hits() == {"searx": 1, "brave": 1, "ddg": 1, "wiki": 0}


def test_fallback_skips_engines_without_the_type(tmp_path: Path, fakes: Fakes) -> None:
    with serve(tmp_path, search_config(fakes, fallback=["wiki", "brave"])) as base:
        # ddg (the default) and wiki serve no news: brave is the first that does.
        status, headers, body = search(base, q="python", type="news")
        assert (status, body["engine"], headers["x-patchbay-attempts"]) == (200, "brave", "1")
        assert fakes.hits() == {"searx": 0, "brave": 1, "ddg": 0, "wiki": 0}
        # A named engine that does not serve the type is the client's mistake.
        assert search(base, q="python", type="news", engine="wiki")[0] == 400


def test_fallback_covers_timeouts_and_rate_limits(tmp_path: Path, fakes: Fakes) -> None:
    with serve(tmp_path, search_config(fakes, fallback=["wiki"])) as base:
        fakes.ddg.stalled = True
        status, _, body = search(base, q="python", engine="ddg")
        assert (status, body["engine"]) == (200, "wiki")
        fakes.ddg.stalled = False
        status, _, body = search(base, q="blocked")
        assert (status, body["engine"]) == (200, "wiki")


def test_every_engine_failing_gives_the_last_failure(tmp_path: Path, fakes: Fakes) -> None:
    with serve(tmp_path, search_config(fakes, fallback=["searx", "wiki"])) as base:
        status, headers, body = search(base, q="limit")
    assert (status, headers["retry-after"], headers["x-patchbay-attempts"]) == (429, "7", "3")
    assert "wiki" in body["error"]["message"]
    assert fakes.hits() == {"searx": 1, "brave": 0, "ddg": 1, "wiki": 1}


# --- Cache -----------------------------------------------------------------------------


def test_cache_answers_a_repeated_search_without_asking_the_engine(
    tmp_path: Path, fakes: Fakes
) -> None:
    with serve(tmp_path, search_config(fakes, cache={"ttl": 60})) as base:
        first = search(base, q="python", engine="brave", max_results=3)
        again = search(base, q="python", engine="brave", max_results=3)
        assert (first[1]["x-patchbay-cache"], again[1]["x-patchbay-cache"]) == ("MISS", "HIT")
        assert first[2] == again[2]
        assert again[1]["x-patchbay-attempts"] == "0"
        assert fakes.hits()["brave"] == 1
        # Any parameter that shapes the answer is part of the key.
        for other in (
            {"max_results": 4},
            {"type": "news"},
            {"page": 2},
            {"region": "de-de"},
            {"safesearch": "strict"},
            {"time_range": "day"},
            {"engine": "searx"},
        ):
            params = {"q": "python", "engine": "brave", "max_results": 3, **other}
            assert search(base, **params)[1]["x-patchbay-cache"] == "MISS", other
        assert fakes.hits()["brave"] == 7


def test_failures_are_not_cached(tmp_path: Path, fakes: Fakes) -> None:
    with serve(tmp_path, search_config(fakes, cache={"ttl": 60})) as base:
        assert search(base, q="fail")[0] == 502
        assert search(base, q="fail")[0] == 502
    assert fakes.hits()["ddg"] == 2


def test_cache_is_bounded_least_recently_used_first(tmp_path: Path, fakes: Fakes) -> None:
    with serve(tmp_path, search_config(fakes, cache={"ttl": 60, "max_entries": 2})) as base:
        for q in ("one", "two", "one", "three"):  # "two" is the least recently used
            search(base, q=q, engine="wiki")
        assert search(base, q="one", engine="wiki")[1]["x-patchbay-cache"] == "HIT"
        assert search(base, q="two", engine="wiki")[1]["x-patchbay-cache"] == "MISS"
    assert fakes.hits()["wiki"] == 4


def test_cache_serves_the_fallback_engines_answer(tmp_path: Path, fakes: Fakes) -> None:
    config = search_config(fakes, fallback=["wiki"], cache={"ttl": 60})
    with serve(tmp_path, config) as base:
        fakes.ddg.down = True
        assert search(base, q="python")[2]["engine"] == "wiki"
        status, headers, body = search(base, q="python")
        assert (status, body["engine"], headers["x-patchbay-cache"]) == (200, "wiki", "HIT")
    assert fakes.hits() == {"searx": 0, "brave": 0, "ddg": 2, "wiki": 1}


def test_cache_is_shared_through_redis(tmp_path: Path, fakes: Fakes, redis_url: str) -> None:
    config = search_config(fakes, cache={"ttl": 60})
    one = write_config(tmp_path / "one", config, server={"redis_url": redis_url})
    two = write_config(tmp_path / "two", config, server={"redis_url": redis_url})
    with gateway(one) as first, gateway(two) as second:
        assert search(first, q="python", engine="searx")[1]["x-patchbay-cache"] == "MISS"
        status, headers, body = search(second, q="python", engine="searx")
        assert (status, headers["x-patchbay-cache"]) == (200, "HIT")
        assert body["results"][0]["url"] == "https://searx.example/python/1"
    assert fakes.hits()["searx"] == 1


def test_a_redis_that_is_gone_only_costs_the_cache(tmp_path: Path, fakes: Fakes) -> None:
    config = search_config(fakes, cache={"ttl": 60})
    with serve(tmp_path, config, redis_url=f"redis://127.0.0.1:{free_port()}/0") as base:
        for _ in range(2):
            status, headers, _ = search(base, q="python", engine="searx")
            assert (status, headers["x-patchbay-cache"]) == (200, "MISS")
    assert fakes.hits()["searx"] == 2


def test_shipped_config_declares_search(tmp_path: Path) -> None:
    """The repository's own files offer both routes, the four kinds, fallback and cache."""
    root = Path(__file__).resolve().parent.parent
    shipped = yaml.safe_load((root / "providers.yaml").read_text())["search"]
    assert shipped["default"] == "duckduckgo"
    kinds = {e["kind"] for e in shipped["engines"].values()}
    assert kinds == {"searxng", "brave", "duckduckgo", "wikipedia"}
    assert shipped["fallback"] == ["brave", "duckduckgo", "wikipedia"]
    assert shipped["cache"]["ttl"] > 0
    routes = yaml.safe_load((root / "routes.yaml").read_text())["routes"]
    handlers = {r["path"]: r["handler"] for r in routes if r.get("enabled", True)}
    assert handlers["/search"] == "search.query"
    assert handlers["/search/provider"] == "search.providers"
