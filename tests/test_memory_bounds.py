"""One request cannot take a worker's memory: what it asks for and what upstreams send is bounded.

Patchbay runs as `python -m engine serve` (one worker: the process itself); its peak
resident memory (VmHWM in /proc) must stay under RSS_LIMIT while it refuses a
100,000-input embeddings request (400), an upstream body that never ends (502) and a
gzip answer that inflates to 1 GiB (502), for chat, images and search alike. An address
space cap keeps a regression from taking the machine with it.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.faulty_server import FaultyUpstream, gzip_bomb
from tests.harness import free_port, write_config
from tests.pages_harness import fetch
from tests.reload_helpers import wait_for

RSS_LIMIT = 200 * 1024 * 1024
ADDRESS_SPACE_CAP = 3 * 1024**3  # a regression fails the test, not the machine


def _peak_rss(pid: int) -> int:
    """The process's peak resident set size, in bytes (VmHWM); printed for the record."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) * 1024
            print(f"peak RSS of the worker: {peak / 2**20:.0f} MiB")
            return peak
    raise AssertionError("no VmHWM in /proc")


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_CAP, ADDRESS_SPACE_CAP))


def _config(directory: Path, fake_url: str, fake_root: str) -> Path:
    providers = {
        "defaults": {"provider": "echo", "timeout": 10, "retries": 0},
        "providers": {
            "echo": {"kind": "echo", "models": ["echo-1", {"id": "embed", "type": "embedding"}]},
            "bad": {"kind": "openai", "base_url": fake_url, "models": ["endless", "gzip-bomb"]},
            "badimg": {
                "kind": "openai",
                "base_url": fake_url,
                "models": [
                    {"id": "gzip-bomb", "type": "image"},
                    {"id": "endless", "type": "image"},
                ],
            },
        },
        "search": {
            "default": "bad",
            "engines": {"bad": {"kind": "searxng", "base_url": fake_root}},
        },
    }
    return write_config(directory, providers)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """(base URL, PID) of a one-worker Patchbay in front of the faulty upstream."""
    # Compressing the bomb's GiB takes seconds on a busy machine: done before serving,
    # not inside a request the gateway under test is timing.
    gzip_bomb()
    with FaultyUpstream().in_thread() as fake:
        directory = _config(tmp_path / "cfg", fake.url, fake.url.removesuffix("/v1"))
        port = free_port()
        command = [sys.executable, "-m", "engine", "serve", "--config-dir", str(directory)]
        command += ["--host", "127.0.0.1", "--port", str(port), "--no-watch"]
        with open(tmp_path / "serve.log", "wb") as log:
            process = subprocess.Popen(
                command, cwd=tmp_path, stdout=log, stderr=log, preexec_fn=_capped
            )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: _answers(base), "the server to answer", deadline=30)
            yield base, process.pid
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            print((tmp_path / "serve.log").read_text()[-3000:])


def _answers(base: str) -> bool:
    try:
        return fetch(base + "/health")[0] == 200
    except OSError:
        return False


def _post(base: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    status, _, raw = fetch(base + path, "POST", body)
    return status, json.loads(raw)


def test_a_hundred_thousand_embeddings_inputs_are_refused_in_little_memory(
    served: tuple[str, int],
) -> None:
    base, pid = served
    inputs = [f"input {i}" for i in range(100_000)]
    status, body = _post(base, "/v1/embeddings", {"model": "echo/embed", "input": inputs})
    assert status == 400, body
    assert body["error"]["param"] == "input"
    assert _peak_rss(pid) < RSS_LIMIT, _peak_rss(pid)
    assert fetch(base + "/health")[0] == 200


def test_echo_embeddings_answers_are_bounded(served: tuple[str, int]) -> None:
    base, pid = served
    inputs = ["x"] * 2048
    status, body = _post(
        base, "/v1/embeddings", {"model": "echo/embed", "input": inputs, "dimensions": 3072}
    )
    assert status == 400, body
    assert body["error"]["param"] == "input"
    status, body = _post(
        base, "/v1/embeddings", {"model": "echo/embed", "input": inputs[:256], "dimensions": 3072}
    )
    assert status == 200
    assert len(body["data"]) == 256
    assert _peak_rss(pid) < RSS_LIMIT, _peak_rss(pid)


@pytest.mark.parametrize("model", ["bad/endless", "bad/gzip-bomb"])
@pytest.mark.parametrize("stream", [False, True])
def test_an_oversized_chat_answer_is_a_502(
    served: tuple[str, int], model: str, stream: bool
) -> None:
    base, pid = served
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "x"}]}
    status, _, raw = fetch(base + "/v1/chat/completions", "POST", body)
    assert status == 502, raw[:300]
    error = json.loads(raw)["error"]
    assert "max_response_size" in error["message"]
    assert _peak_rss(pid) < RSS_LIMIT, _peak_rss(pid)


@pytest.mark.parametrize("model", ["badimg/endless", "badimg/gzip-bomb"])
def test_an_oversized_image_answer_is_a_502(served: tuple[str, int], model: str) -> None:
    base, pid = served
    status, body = _post(base, "/v1/images/generations", {"model": model, "prompt": "x"})
    assert status == 502, body
    assert "max_response_size" in body["error"]["message"]
    assert _peak_rss(pid) < RSS_LIMIT, _peak_rss(pid)


@pytest.mark.parametrize("query", ["endless", "gzip-bomb"])
def test_an_oversized_search_answer_is_a_502(served: tuple[str, int], query: str) -> None:
    base, pid = served
    status, _, raw = fetch(f"{base}/search?q={query}")
    assert status == 502, raw[:300]
    assert b"max_response_size" in raw
    assert _peak_rss(pid) < RSS_LIMIT, _peak_rss(pid)
