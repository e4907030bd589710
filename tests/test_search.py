"""GET /search and GET /search/provider through a real gateway, against fake engines."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml

from tests.fakes.search_servers import BRAVE_TOKEN, FakeBrave, FakeDuckDuckGo, FakeSearXNG
from tests.harness import free_port, gateway, write_config

Answer = tuple[int, dict[str, str], Any]


@dataclass
class Fakes:
    searx: FakeSearXNG
    brave: FakeBrave
    ddg: FakeDuckDuckGo


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    with (
        FakeSearXNG().in_thread() as searx,
        FakeBrave().in_thread() as brave,
        FakeDuckDuckGo().in_thread() as ddg,
    ):
        yield Fakes(searx, brave, ddg)


def providers(fakes: Fakes, **engines: Any) -> dict[str, Any]:
    """providers.yaml with echo and the three engines at the fakes (ddg the default)."""
    declared = {
        "searx": {"kind": "searxng", "base_url": fakes.searx.url},
        "brave": {"kind": "brave", "base_url": fakes.brave.url, "api_key": "${TEST_BRAVE_KEY}"},
        "ddg": {"kind": "duckduckgo", "base_url": fakes.ddg.url, "timeout": 5},
    }
    declared.update(engines)
    return {
        "providers": {"echo": {"kind": "echo", "models": ["echo-1"]}},
        "search": {"default": "ddg", "engines": declared},
    }


@pytest.fixture
def config_dir(tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEST_BRAVE_KEY", BRAVE_TOKEN)
    return write_config(tmp_path / "cfg", providers(fakes))


@pytest.fixture
def base(config_dir: Path) -> Iterator[str]:
    with gateway(config_dir) as url:
        yield url


def get(url: str) -> Answer:
    try:
        with urllib.request.urlopen(url, timeout=20) as resp:
            return resp.status, _lower(resp.headers.items()), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, _lower(err.headers.items()), json.loads(err.read())


def _lower(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers}


def search(base: str, **params: Any) -> Answer:
    return get(f"{base}/search?{urlencode(params)}")


def engines(base: str) -> dict[str, dict[str, Any]]:
    status, _, body = get(base + "/search/provider")
    assert status == 200
    return {entry["name"]: entry for entry in body["data"]}


def test_default_engine_is_duckduckgo_with_abstract_and_nested_topics(base: str) -> None:
    status, headers, body = search(base, q="python")
    assert status == 200
    assert (body["object"], body["engine"], body["query"]) == ("list", "ddg", "python")
    titles = [hit["title"] for hit in body["data"]]
    # Abstract, the official link, three related topics, then the nested group's three.
    assert titles[0] == "python result 1"
    assert titles[1] == "Official site"
    assert titles[2:] == [f"python result {n}" for n in range(2, 8)]
    assert body["data"][2] == {
        "title": "python result 2",
        "url": "https://ddg.example/python/2",
        "snippet": "Snippet 2 about python.",
    }
    assert headers["x-patchbay-provider"] == "ddg"


def test_duckduckgo_request_is_the_instant_answer_api(base: str, fakes: Fakes) -> None:
    search(base, q="rust lang")
    sent = fakes.ddg.requests[-1]
    assert sent.path == "/"
    assert sent.query == {
        "q": "rust lang",
        "format": "json",
        "no_html": "1",
        "skip_disambig": "1",
    }


def test_searxng_first_page_cut_to_count(base: str, fakes: Fakes) -> None:
    status, _, body = search(base, q="zig", engine="searx", count=3)
    assert status == 200
    assert body["engine"] == "searx"
    assert [hit["title"] for hit in body["data"]] == [
        "zig result 1",
        "zig result 2",
        "zig result 3",
    ]
    assert body["data"][0]["snippet"] == "Snippet 1 about zig."
    sent = fakes.searx.requests[-1]
    assert (sent.path, sent.query) == ("/search", {"q": "zig", "format": "json", "pageno": "1"})


def test_brave_sends_token_and_count(base: str, fakes: Fakes) -> None:
    status, _, body = search(base, q="go", engine="brave", count=4)
    assert status == 200
    assert [hit["url"] for hit in body["data"]] == [
        f"https://brave.example/go/{n}" for n in range(1, 5)
    ]
    sent = fakes.brave.requests[-1]
    assert sent.path == "/res/v1/web/search"
    assert sent.query == {"q": "go", "count": "4"}
    assert sent.headers["X-Subscription-Token"] == BRAVE_TOKEN
    assert BRAVE_TOKEN not in json.dumps(body)


def test_count_defaults_to_ten_and_brave_is_capped_at_twenty(base: str, fakes: Fakes) -> None:
    assert len(search(base, q="a", engine="searx")[2]["data"]) == 10
    status, _, body = search(base, q="a", engine="brave", count=50)
    assert (status, len(body["data"])) == (200, 20)
    assert fakes.brave.requests[-1].query["count"] == "20"


@pytest.mark.parametrize("count", ["0", "51", "ten", "-1", "2.5"])
def test_bad_count_is_400(base: str, count: str) -> None:
    status, _, body = search(base, q="x", count=count)
    assert status == 400
    assert body["error"]["param"] == "count"
    assert body["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}, {"engine": "ddg"}])
def test_missing_query_is_400(base: str, params: dict[str, str]) -> None:
    status, _, body = search(base, **params)
    assert status == 400
    assert body["error"]["param"] == "q"


def test_unknown_engine_is_404_listing_active_engines(base: str) -> None:
    status, _, body = search(base, q="x", engine="bing")
    assert status == 404
    error = body["error"]
    assert (error["code"], error["param"]) == ("engine_not_found", "engine")
    assert "bing" in error["message"]
    assert "searx, brave, ddg" in error["message"]


def test_provider_lists_engines_with_kind_status_and_default(base: str) -> None:
    status, _, body = get(base + "/search/provider")
    assert status == 200
    assert body["object"] == "list"
    assert body["default"] == "ddg"
    assert body["data"] == [
        {"name": "searx", "kind": "searxng", "status": "active", "default": False},
        {"name": "brave", "kind": "brave", "status": "active", "default": False},
        {"name": "ddg", "kind": "duckduckgo", "status": "active", "default": True},
    ]
    assert BRAVE_TOKEN not in json.dumps(body)


def test_missing_key_marks_engine_and_refuses_it(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_BRAVE_KEY", raising=False)
    with gateway(write_config(tmp_path / "cfg", providers(fakes))) as base:
        assert engines(base)["brave"]["status"] == "missing_key"
        status, _, body = search(base, q="x", engine="brave")
        assert (status, body["error"]["code"]) == (404, "engine_not_found")
        assert "searx, ddg" in body["error"]["message"]
    assert fakes.brave.requests == []


def test_disabled_default_falls_back_to_first_active(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_BRAVE_KEY", BRAVE_TOKEN)
    config = providers(
        fakes, ddg={"kind": "duckduckgo", "base_url": fakes.ddg.url, "enabled": False}
    )
    with gateway(write_config(tmp_path / "cfg", config)) as base:
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


def test_engines_follow_live_edits(base: str, config_dir: Path, fakes: Fakes) -> None:
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


@pytest.mark.parametrize("engine", ["searx", "brave", "ddg"])
def test_upstream_failures_are_mapped(base: str, engine: str) -> None:
    status, _, body = search(base, q="fail", engine=engine)
    assert (status, body["error"]["code"]) == (502, "upstream_error")
    assert engine in body["error"]["message"]
    status, headers, body = search(base, q="limit", engine=engine)
    assert (status, headers["retry-after"]) == (429, "7")
    assert body["error"]["code"] == "rate_limit_exceeded"
    status, _, body = search(base, q="garbled", engine=engine)
    assert (status, body["error"]["code"]) == (502, "upstream_error")


def test_unreachable_engine_is_502(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_BRAVE_KEY", BRAVE_TOKEN)
    closed = f"http://127.0.0.1:{free_port()}"
    config = providers(fakes, searx={"kind": "searxng", "base_url": closed})
    with gateway(write_config(tmp_path / "cfg", config)) as base:
        status, _, body = search(base, q="x", engine="searx")
    assert (status, body["error"]["code"]) == (502, "upstream_unreachable")


def test_wrong_key_is_relayed_without_the_key(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_BRAVE_KEY", "wrong-secret-key-abcdef")
    with gateway(write_config(tmp_path / "cfg", providers(fakes))) as base:
        status, _, body = search(base, q="x", engine="brave")
        listing = get(base + "/search/provider")[2]
    assert status == 401
    assert "subscription token" in body["error"]["message"]
    assert fakes.brave.requests[-1].headers["X-Subscription-Token"] == "wrong-secret-key-abcdef"
    assert "wrong-secret-key-abcdef" not in json.dumps(body) + json.dumps(listing)


def test_shipped_config_declares_search(tmp_path: Path) -> None:
    """The repository's own files offer both routes and the three engines."""
    root = Path(__file__).resolve().parent.parent
    shipped = yaml.safe_load((root / "providers.yaml").read_text())["search"]
    assert shipped["default"] == "duckduckgo"
    assert {e["kind"] for e in shipped["engines"].values()} == {"searxng", "brave", "duckduckgo"}
    routes = yaml.safe_load((root / "routes.yaml").read_text())["routes"]
    handlers = {r["path"]: r["handler"] for r in routes if r.get("enabled", True)}
    assert handlers["/search"] == "search.query"
    assert handlers["/search/provider"] == "search.providers"
