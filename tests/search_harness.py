"""The four fake search engines together, a providers.yaml over them, and HTTP helpers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tests.fakes.duckduckgo_server import FakeDuckDuckGo
from tests.fakes.search_servers import FakeBrave, FakeSearXNG, FakeWikipedia

Answer = tuple[int, dict[str, str], Any]
ENGINE_TIMEOUT = 0.5  # seconds; the fakes' `slow` query takes longer


@dataclass
class Fakes:
    searx: FakeSearXNG
    brave: FakeBrave
    ddg: FakeDuckDuckGo
    wiki: FakeWikipedia

    def hits(self) -> dict[str, int]:
        """Requests each fake has received so far."""
        return {name: len(fake.requests) for name, fake in vars(self).items()}


@contextmanager
def running_fakes() -> Iterator[Fakes]:
    with (
        FakeSearXNG().in_thread() as searx,
        FakeBrave().in_thread() as brave,
        FakeDuckDuckGo().in_thread() as ddg,
        FakeWikipedia().in_thread() as wiki,
    ):
        yield Fakes(searx, brave, ddg, wiki)


def search_config(fakes: Fakes, **search: Any) -> dict[str, Any]:
    """providers.yaml with echo and the four engines at the fakes (ddg the default);
    `search` adds or replaces keys of the `search:` block (engines=... replaces some)."""
    engines: dict[str, Any] = {
        "searx": {"kind": "searxng", "base_url": fakes.searx.url},
        "brave": {"kind": "brave", "base_url": fakes.brave.url, "api_key": "${TEST_BRAVE_KEY}"},
        "ddg": {"kind": "duckduckgo", "base_url": fakes.ddg.url},
        "wiki": {"kind": "wikipedia", "base_url": fakes.wiki.url},
    }
    for entry in engines.values():
        entry["timeout"] = ENGINE_TIMEOUT
    engines.update(search.pop("engines", {}))
    return {
        "providers": {"echo": {"kind": "echo", "models": ["echo-1"]}},
        "search": {"default": "ddg", "engines": engines, **search},
    }


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
