"""Reloads under load: no request fails, and streams finish on the snapshot they began on."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import gateway
from tests.reload_helpers import (
    ADMIN_ENV,
    ADMIN_KEY,
    Writer,
    admin_config,
    config_files,
    dump,
    listed,
    providers,
    wait_for,
)

RELOADS = 20
CLIENTS = [  # (model, stream): each runs in its own thread, request after request
    ("echo/echo-1", False),
    ("up/gpt-test", False),
    ("echo/echo-1", True),
    ("up/slow-stream", True),
]


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv(ADMIN_ENV, ADMIN_KEY)
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", API_KEY)
    with FakeOpenAI(("gpt-test", "slow-stream", "held")).in_thread() as fake:
        yield fake


def with_upstream(url: str, *, spare: bool = True, timeout: int = 5) -> str:
    data = providers(spare)
    data["defaults"]["timeout"] = timeout
    data["providers"]["up"] = {
        "kind": "openai",
        "base_url": url,
        "api_key": "${FAKE_UPSTREAM_KEY}",
        "models": ["gpt-test", "slow-stream", "held"],
    }
    return dump(data)


def open_chat(base: str, model: str, stream: bool) -> http.client.HTTPResponse:
    """POST a chat completion on a fresh connection; the caller reads the response."""
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "ping"}]}
    connection.request(
        "POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"}
    )
    return connection.getresponse()


def stream_text(lines: list[bytes]) -> tuple[str, bool]:
    """The content a stream carried and whether it ended with [DONE]."""
    events = [line[6:].strip() for line in lines if line.startswith(b"data: ")]
    done = bool(events) and events[-1] == b"[DONE]"
    chunks = [json.loads(e) for e in events if e != b"[DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    return text, done


def one_request(base: str, model: str, stream: bool) -> str | None:
    """None when the request succeeded completely, else what went wrong."""
    resp = open_chat(base, model, stream)
    raw = resp.read()
    if resp.status != 200:
        return f"{model} stream={stream}: {resp.status} {raw[:200]!r}"
    if stream:
        text, done = stream_text(raw.splitlines())
        ok = done and text.endswith("ping")
    else:
        ok = json.loads(raw)["choices"][0]["message"]["content"].endswith("ping")
    return None if ok else f"{model} stream={stream}: incomplete {raw[:300]!r}"


class Traffic:
    """Client threads sending requests until stopped; they count successes and failures."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.stop = threading.Event()
        self.done: dict[str, int] = {}
        self.failures: list[str] = []
        self.threads = [
            threading.Thread(target=self._run, args=client, daemon=True) for client in CLIENTS
        ]

    def _run(self, model: str, stream: bool) -> None:
        key = f"{model} stream={stream}"
        self.done[key] = 0
        while not self.stop.is_set():
            try:
                problem = one_request(self.base, model, stream)
            except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
                problem = f"{key}: {type(exc).__name__}: {exc}"
            if problem:
                self.failures.append(problem)
            else:
                self.done[key] += 1

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(15)


def test_twenty_reloads_under_concurrent_traffic_fail_no_request(
    tmp_path: Path, upstream: FakeOpenAI
) -> None:
    directory = tmp_path / "cfg"
    writer = Writer()
    writer.setup(directory, {**config_files(), "providers.yaml": with_upstream(upstream.url)})
    with gateway(directory) as base, Traffic(base) as traffic:

        def applied() -> int:
            return int(admin_config(base)["reloads"]["applied"])

        wait_for(lambda: all(traffic.done.get(f"{m} stream={s}") for m, s in CLIENTS), "warm")
        for n in range(RELOADS):
            # Each reload switches `spare` and changes every provider's timeout.
            edit = with_upstream(upstream.url, spare=n % 2 == 1, timeout=5 + n % 2)
            writer.write(directory, "providers.yaml", edit)
            wait_for(lambda: applied() == n + 1, f"reload {n + 1} applied")  # noqa: B023
        traffic.stop.set()
        status = admin_config(base)
    assert traffic.failures == []
    assert status["reloads"]["applied"] == RELOADS
    assert all(count > 0 for count in traffic.done.values()), traffic.done
    assert sum(traffic.done.values()) >= 2 * RELOADS


def test_stream_outlives_the_removal_of_its_provider(tmp_path: Path, upstream: FakeOpenAI) -> None:
    directory = tmp_path / "cfg"
    writer = Writer()
    writer.setup(directory, {**config_files(), "providers.yaml": with_upstream(upstream.url)})
    with gateway(directory) as base:
        resp = open_chat(base, "up/held", stream=True)
        assert resp.status == 200
        lines = [resp.readline()]  # the first event; the upstream now waits
        assert lines[0].startswith(b"data: ")
        writer.write(directory, "providers.yaml", dump(providers()))  # `up` removed
        wait_for(lambda: "up/held" not in listed(base), "up/held gone from /v1/models")
        assert open_chat(base, "up/held", stream=True).status == 404
        upstream.release_held()
        lines += resp.readlines()
    text, done = stream_text(lines)
    assert done
    assert text == "upstream says: ping"
    events = [line for line in lines if line.startswith(b"data: ")]
    assert len(events) == len(_expected_chunks()) + 1  # every chunk, then [DONE]


def _expected_chunks() -> list[dict[str, Any]]:
    from tests.fakes.openai_server import _chunks

    return _chunks({"model": "held", "messages": [{"role": "user", "content": "ping"}]})
