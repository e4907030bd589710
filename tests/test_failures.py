"""Upstream failure mapping for the openai kind: every row, each bounded in time."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import threading
import time
import urllib.request
from pathlib import Path

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import upstream_providers
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import free_port, gateway, write_config
from tests.reload_helpers import wait_for
from tests.test_chat import post


def _chat(model: str, stream: bool = False) -> bytes:
    return json.dumps(
        {"model": model, "stream": stream, "messages": [{"role": "user", "content": "x"}]}
    ).encode()


def test_connection_refused_is_502_quickly(tmp_path: Path) -> None:
    closed_port = free_port()  # nothing listens here
    providers = {
        "defaults": {"retries": 0, "timeout": 5},
        "providers": {
            "gone": {
                "kind": "openai",
                "base_url": f"http://127.0.0.1:{closed_port}/v1",
                "models": ["m"],
            }
        },
    }
    with gateway(write_config(tmp_path / "cfg", providers)) as url:
        started = time.monotonic()
        status, headers, body = post(url + "/v1/chat/completions", _chat("gone/m"))
        assert status == 502
        assert json.loads(body)["error"]["code"] == "upstream_unreachable"
        assert headers["x-patchbay-attempts"] == "1"
        assert time.monotonic() - started < 4  # well inside the provider timeout


def test_no_first_byte_within_timeout_is_504(gateway_url: str) -> None:
    status, _, body = post(gateway_url + "/v1/chat/completions", _chat("up/slow", stream=True))
    assert status == 504
    assert json.loads(body)["error"]["type"] == "api_error"


def test_idle_gap_mid_stream_is_an_error_event(gateway_url: str) -> None:
    status, _, body = post(gateway_url + "/v1/chat/completions", _chat("up/stall", stream=True))
    assert status == 200
    events = [line[6:] for line in body.decode().split("\n\n") if line.startswith("data: ")]
    assert json.loads(events[0])["choices"][0]["delta"]["role"] == "assistant"
    error = json.loads(events[-1])["error"]
    assert error["code"] == "upstream_timeout"
    assert "[DONE]" not in events


def test_error_event_from_upstream_mid_stream(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="up/midstream-error", messages=[{"role": "user", "content": "x"}], stream=True
    )
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    assert "upstream broke" in str(caught.value)


def test_upstream_429_relays_retry_after_through_the_sdk(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model="up/limit-429", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.response.headers["retry-after"] == "7"


def test_huge_sse_line_is_relayed(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="up/big", messages=[{"role": "user", "content": "x"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert len(text) == 1 << 20
    reply = client.chat.completions.create(
        model="up/big", messages=[{"role": "user", "content": "x"}]
    )
    assert len(reply.choices[0].message.content or "") == 1 << 20


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
@pytest.mark.parametrize("after", [0.0, 0.2], ids=["before-watching", "while-watched"])
def test_client_disconnect_closes_the_upstream(
    gateway_url: str, fake_openai: FakeOpenAI, after: float, stream: bool
) -> None:
    """A client that leaves at once is seen when the watcher starts (WATCH_AFTER); one
    that leaves later is seen by the watcher already running. Either way the upstream
    call is dropped, whether the answer is a stream or one JSON body still awaited."""
    host, port = gateway_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    seen = len(fake_openai.requests)
    connection.request(
        "POST",
        "/v1/chat/completions",
        _chat("up/hold", stream=stream),
        {"Content-Type": "application/json"},
    )
    if stream:
        assert connection.getresponse().readline().startswith(b"data: ")
    else:
        wait_for(lambda: len(fake_openai.requests) > seen, "the upstream has the call")
    time.sleep(after)
    hung_up = fake_openai.hung_up
    connection.close()
    # The client is gone; the gateway must drop its upstream connection promptly: well
    # before the provider's 1 s read timeout, which would close it anyway.
    deadline = time.monotonic() + 0.6
    while fake_openai.hung_up == hung_up and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake_openai.hung_up == hung_up + 1
    if not stream:  # no answer went out: counted as "client closed request", as nginx does
        hung_up = {"route": "/v1/chat/completions", "method": "POST", "status": "499"}
        wait_for(lambda: _count(_metrics(gateway_url), hung_up) == 1, "the 499 counted")


def _count(text: str, labels: dict[str, str]) -> float:
    """patchbay_requests_total summed over the samples whose labels include `labels`."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "patchbay_requests_total" and labels.items() <= sample.labels.items()
    )


def _metrics(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        return resp.read().decode()  # type: ignore[no-any-return]


def test_keys_never_reach_responses_or_logs(
    tmp_path: Path,
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", API_KEY)
    providers = upstream_providers(fake_openai.url)
    config = write_config(tmp_path / "cfg", providers, server={"request_logging": True})
    # Patchbay's loggers do not propagate to the root, where caplog listens: listen there.
    patchbay = logging.getLogger("patchbay")
    patchbay.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG, logger="patchbay")
    stack = contextlib.ExitStack()
    try:
        gateway_url = stack.enter_context(gateway(config))
        seen = b""
        for model in ("up/fail-500", "up/reject-400", "up/limit-429", "up/gpt-test"):
            _, headers, body = post(gateway_url + "/v1/chat/completions", _chat(model))
            seen += body + json.dumps(headers).encode()
        with urllib.request.urlopen(gateway_url + "/v1/providers", timeout=10) as resp:
            providers = resp.read()
    finally:
        stack.close()
        patchbay.removeHandler(caplog.handler)
    assert "/v1/chat/completions 502" in caplog.text  # the access lines were captured
    assert API_KEY.encode() not in seen + providers
    assert API_KEY not in caplog.text


def test_idle_connection_to_gateway_does_not_hang_requests(gateway_url: str) -> None:
    """A client that connects and sends nothing does not block others."""
    with socket.create_connection(("127.0.0.1", int(gateway_url.rsplit(":", 1)[1]))):
        results: list[int] = []
        worker = threading.Thread(
            target=lambda: results.append(
                post(gateway_url + "/v1/chat/completions", _chat("echo/echo-1"))[0]
            )
        )
        worker.start()
        worker.join(10)
        assert results == [200]
