"""Nothing a client or an upstream sends makes a bare 500: every answer is OpenAI-shaped.

Whole-number floats reach `echo`, odd chunks reach the token counter, an error template
fails while rendering, and a fault nobody foresaw meets the front door's last line of
defence: an OpenAI-shaped 500 `internal_error` naming the request id, never an empty body.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.handlers import chat
from tests.fakes.faulty_server import FaultyUpstream
from tests.harness import gateway, write_config
from tests.pages_harness import fetch
from tests.reload_helpers import LogRecords


def _chat(url: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    body = {"model": "echo/echo-1", "messages": [{"role": "user", "content": "a b c d"}], **extra}
    status, _, raw = fetch(url + "/v1/chat/completions", "POST", body)
    return status, json.loads(raw)


@pytest.fixture
def echo_url(tmp_path: Path) -> Iterator[str]:
    providers = {
        "defaults": {"provider": "echo"},
        "providers": {
            "echo": {"kind": "echo", "models": ["echo-1", {"id": "embed", "type": "embedding"}]}
        },
    }
    with gateway(write_config(tmp_path / "cfg", providers)) as url:
        yield url


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"n": 1.0}, 4),
        ({"n": 2.0}, 4),
        ({"max_tokens": 3.0}, 3),
        ({"max_completion_tokens": 1.0}, 1),
        ({"max_tokens": 2.0, "stream": False}, 2),
    ],
)
def test_whole_number_floats_are_integers(echo_url: str, extra: dict[str, Any], words: int) -> None:
    status, body = _chat(echo_url, **extra)
    assert status == 200, body
    assert len(body["choices"]) == int(extra.get("n", 1))
    assert len(body["choices"][0]["message"]["content"].split()) == words


def test_whole_number_floats_stream_too(echo_url: str) -> None:
    body = {
        "model": "echo/echo-1",
        "stream": True,
        "max_tokens": 2.0,
        "messages": [{"role": "user", "content": "a b c d"}],
    }
    status, _, raw = fetch(echo_url + "/v1/chat/completions", "POST", body)
    assert status == 200
    assert raw.endswith(b"data: [DONE]\n\n")


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
def test_a_token_limit_beyond_any_model_is_a_400_naming_it(echo_url: str, param: str) -> None:
    status, body = _chat(echo_url, **{param: 1e300})
    assert status == 400, body
    assert body["error"]["param"] == param


def test_dimensions_as_a_whole_float(echo_url: str) -> None:
    body = {"model": "echo/embed", "input": "x", "dimensions": 8.0}
    status, _, raw = fetch(echo_url + "/v1/embeddings", "POST", body)
    assert status == 200, raw
    assert len(json.loads(raw)["data"][0]["embedding"]) == 8


@pytest.fixture
def faulty() -> Iterator[FaultyUpstream]:
    with FaultyUpstream().in_thread() as fake:
        yield fake


def _tpm_gateway(tmp_path: Path, fake: FaultyUpstream) -> Any:
    providers = {
        "defaults": {"provider": "echo", "timeout": 5, "retries": 0},
        "providers": {
            "echo": {"kind": "echo", "models": ["echo-1"]},
            "bad": {"kind": "openai", "base_url": fake.url, "models": ["bad-chunks"]},
        },
    }
    server = {"rate_limit": {"tpm": 100000}}
    return gateway(write_config(tmp_path / "cfg", providers, server=server))


@pytest.mark.parametrize("stream", [True, False])
def test_odd_chunks_do_not_crash_the_token_counter(
    tmp_path: Path, faulty: FaultyUpstream, stream: bool
) -> None:
    with _tpm_gateway(tmp_path, faulty) as url:
        body = {"model": "bad/bad-chunks", "stream": stream, "messages": [{"role": "user"}]}
        status, _, raw = fetch(url + "/v1/chat/completions", "POST", body)
    assert status == 200, raw
    if stream:
        assert raw.endswith(b"data: [DONE]\n\n"), raw
        assert b'"error"' not in raw


def _templated(tmp_path: Path, message: str) -> Path:
    providers = {"defaults": {"provider": "echo"}, "providers": {"echo": {"kind": "echo"}}}
    providers["providers"]["echo"]["models"] = ["echo-1"]
    routes = {
        "routes": [
            {"path": "/v1/chat/completions", "methods": ["POST"], "handler": "chat.completions"}
        ],
        "errors": {
            "model_not_found": {"status": 404, "type": "invalid_request_error", "message": message}
        },
    }
    return write_config(tmp_path / "cfg", providers, routes)


@pytest.mark.parametrize(
    "message",
    ["{{ 1 / 0 }}", "{{ model.split(1, 2, 3) }}", "{{ model.upper(1) }}", "{{ model[::0] }}"],
)
def test_an_error_template_that_fails_leaves_the_404(tmp_path: Path, message: str) -> None:
    with gateway(_templated(tmp_path, message)) as url:
        status, body = _chat(url, model="no-such-model")
    assert status == 404, body
    assert body["error"]["code"] == "model_not_found"
    assert "no-such-model" in body["error"]["message"]


def test_an_unforeseen_fault_is_an_openai_shaped_500_with_the_request_id(
    echo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("a fault nobody foresaw")

    monkeypatch.setattr(chat, "plan_for", broken)
    with LogRecords.of("patchbay") as logs:
        body = {"model": "echo/echo-1", "messages": [{"role": "user", "content": "x"}]}
        status, headers, raw = fetch(echo_url + "/v1/chat/completions", "POST", body)
    assert status == 500
    error = json.loads(raw)["error"]
    assert error["code"] == "internal_error"
    assert error["type"] == "api_error"
    assert headers["x-request-id"] in error["message"]
    assert any(headers["x-request-id"] in line for line in logs.messages)


def test_an_unforeseen_fault_mid_stream_is_an_error_event(
    echo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(events: Any) -> Any:
        yield b"data: {}\n\n"
        raise RuntimeError("a fault nobody foresaw")

    original = chat._open_stream

    async def opened(kind: Any, call: Any) -> Any:
        first, _ = await original(kind, call)
        return first, broken(None)

    monkeypatch.setattr(chat, "_open_stream", opened)
    body = {"model": "echo/echo-1", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    with LogRecords.of("patchbay") as logs:
        status, headers, raw = fetch(echo_url + "/v1/chat/completions", "POST", body)
    assert status == 200
    last = raw.strip().split(b"\n\n")[-1]
    assert last.startswith(b"data: "), raw
    error = json.loads(last[6:])["error"]
    assert error["code"] == "internal_error"
    assert headers["x-request-id"] in error["message"]
    assert any(
        "a fault nobody foresaw" in line or headers["x-request-id"] in line
        for line in logs.messages
    )
