"""Known traffic moves each series by exactly its amount, read with prometheus-client's
own parser: a success, a stream with usage, an upstream 500 that falls back, a
rate-limited request, a client that hangs up mid-stream, an applied and a rejected reload."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from quart import Quart

import tests.harness
from engine import create_app
from engine.observe.workers import MULTIPROC_ENV
from engine.runtime import Runtime
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import free_port, gateway, write_config
from tests.test_metrics import _wait_for_workers, _wait_listening

ADMIN = "admin-key-7Hq2"
ALICE = "sk-alice-Zr81nQ"
BOB = "sk-bob-Lw44xT"
CHAT = "/v1/chat/completions"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(("gpt-test", "fail-500", "held")).in_thread() as upstream:
        yield upstream


@pytest.fixture
def runtimes(monkeypatch: pytest.MonkeyPatch) -> list[Runtime]:
    """The runtime of each gateway the test starts (to hold its rate-limit clock still)."""
    made: list[Runtime] = []

    def create(*args: Any, **kwargs: Any) -> Quart:
        app = create_app(*args, **kwargs)
        made.append(app.config["PATCHBAY_RUNTIME"])
        return app

    monkeypatch.setattr(tests.harness, "create_app", create)
    return made


def config(tmp_path: Path, fake: FakeOpenAI) -> Path:
    up = {"kind": "openai", "base_url": fake.url, "api_key": API_KEY}
    providers = {
        "defaults": {
            "retries": 0,
            "timeout": 5,
            "cooldown": {"failures": 1, "window": 60, "duration": 30},
        },
        "providers": {
            "up": {**up, "models": ["gpt-test", "fail-500", "held"]},
            "echo": {"kind": "echo", "models": ["echo-1"]},
        },
        "aliases": {"steady": ["up/fail-500", "up/gpt-test"]},
    }
    server = {
        "watch": {"enabled": False},
        "auth": {
            "admin_key": ADMIN,
            "keys": [{"name": "alice", "key": ALICE}, {"name": "bob", "key": BOB, "rpm": 1}],
        },
    }
    return write_config(tmp_path / "cfg", providers, server=server)


def post(url: str, body: dict[str, Any], key: str | None = None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def chat(url: str, model: str, key: str | None = None, **extra: Any) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
    return post(url + CHAT, body, key)[0]


def hang_up_mid_stream(url: str) -> None:
    """Start a stream of `up/held`, read its first event, and close the connection."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    body = {"model": "up/held", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    conn.request("POST", CHAT, json.dumps(body), {"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.readline().startswith(b"data: ")
    conn.close()


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url + "/metrics", timeout=20) as resp:
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= set(have))


def settled(url: str, done: Callable[[Samples], bool]) -> Samples:
    """Scrape until `done` (a count that lands once the server notices a hang-up)."""
    for _ in range(200):
        samples = scrape(url)
        if done(samples):
            return samples
        threading.Event().wait(0.05)
    raise AssertionError("the counts did not settle")


def test_known_traffic_moves_every_series_by_exactly_its_amount(
    tmp_path: Path, fake: FakeOpenAI, runtimes: list[Runtime]
) -> None:
    cfg = config(tmp_path, fake)
    with gateway(cfg) as url:
        runtimes[0].guard.limiter.clock = lambda: 1_000_020.0  # one minute for the whole test
        assert chat(url, "up/gpt-test", ALICE) == 200
        stream = {"stream": True, "stream_options": {"include_usage": True}}
        assert chat(url, "up/gpt-test", ALICE, **stream) == 200
        assert chat(url, "steady", ALICE) == 200  # up/fail-500 answers 500, up/gpt-test serves
        assert chat(url, "echo/echo-1", BOB) == 200
        assert chat(url, "echo/echo-1", BOB) == 429  # bob's rpm is 1
        assert chat(url, "no-such-model", ALICE) == 404
        hang_up_mid_stream(url)
        assert post(url + "/admin/reload", {}, ADMIN)[0] == 200
        (cfg / "routes.yaml").write_text("routes: [broken\n")
        assert post(url + "/admin/reload", {}, ADMIN)[0] == 200
        route = {"route": CHAT, "method": "POST"}
        samples = settled(
            url, lambda s: value(s, "patchbay_client_disconnects_total", route=CHAT) == 1
        )
        fake.release_held()  # the upstream's held stream ends now, not at its time limit

    def requests(**labels: str) -> float:
        return value(samples, "patchbay_requests_total", **route, **labels)

    alice = {"format": "openai", "key": "alice"}
    assert requests(status="200", provider="up", model="up/gpt-test", **alice) == 3
    assert requests(status="200", provider="echo", model="echo/echo-1", key="bob") == 1
    assert requests(status="429", provider="", model="", key="bob") == 1
    assert requests(status="404", provider="", model="", key="alice") == 1
    assert requests(status="200", provider="up", model="up/held", key="") == 1
    assert requests() == 7
    assert not any("no-such-model" in str(labels) for _, labels in samples)

    for histogram in ("patchbay_request_duration_seconds", "patchbay_gateway_overhead_seconds"):
        assert value(samples, f"{histogram}_count", route=CHAT) == 7
        assert value(samples, f"{histogram}_bucket", route=CHAT, le="+Inf") == 7
    upstream_time = "patchbay_upstream_duration_seconds_count"
    assert value(samples, upstream_time, provider="up", model="up/gpt-test") == 3
    assert value(samples, upstream_time, provider="up", model="up/held") == 1
    assert value(samples, upstream_time, provider="echo") == 1
    first_token = "patchbay_time_to_first_token_seconds_count"
    assert value(samples, first_token, model="up/gpt-test") == 1
    assert value(samples, first_token, model="up/held") == 1
    assert value(samples, first_token) == 2
    # The stream reported 7 completion tokens: 6 gaps after its first event.
    assert value(samples, "patchbay_time_per_output_token_seconds_count") == 1

    tokens = {"provider": "up", "model": "up/gpt-test", "key": "alice"}
    assert value(samples, "patchbay_tokens_total", **tokens, type="prompt") == 3 * 5
    assert value(samples, "patchbay_tokens_total", **tokens, type="completion") == 3 * 7
    assert value(samples, "patchbay_tokens_total", key="bob", type="completion") > 0

    attempts = "patchbay_upstream_requests_total"
    assert value(samples, attempts, provider="up", model="up/gpt-test", outcome="ok") == 3
    assert value(samples, attempts, provider="up", model="up/fail-500", outcome="5xx") == 1
    assert value(samples, attempts, provider="up", model="up/held", outcome="ok") == 1
    assert value(samples, attempts) == 6
    assert value(samples, "patchbay_fallbacks_total", model="steady") == 1
    assert value(samples, "patchbay_fallbacks_total") == 1
    assert value(samples, "patchbay_retries_total") == 0
    entered = "patchbay_cooldowns_entered_total"
    assert value(samples, entered, provider="up", model="up/fail-500") == 1
    assert value(samples, entered) == 1
    assert value(samples, "patchbay_cooldowns_active", provider="up") == 1
    assert value(samples, "patchbay_cooldowns_active", provider="echo") == 0
    assert value(samples, "patchbay_rate_limited_total", route=CHAT, key="bob") == 1
    assert value(samples, "patchbay_rate_limited_total") == 1
    assert value(samples, "patchbay_client_disconnects_total") == 1
    assert value(samples, "patchbay_streams_in_flight") == 0

    assert value(samples, "patchbay_config_reloads_total", result="applied") == 1
    assert value(samples, "patchbay_config_reloads_total", result="rejected") == 1
    assert value(samples, "patchbay_config_info") == 1
    assert value(samples, "patchbay_config_loaded_timestamp_seconds") > 1.7e9
    assert value(samples, "patchbay_shared_state_up") == 1
    assert value(samples, "patchbay_shared_state_failing_since_timestamp_seconds") == 0


def test_a_stream_in_flight_is_counted_until_it_ends(tmp_path: Path, fake: FakeOpenAI) -> None:
    with gateway(config(tmp_path, fake)) as url:
        host, port = url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=20)
        body = {"model": "up/held", "stream": True, "messages": [{"role": "user", "content": "x"}]}
        conn.request("POST", CHAT, json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.readline().startswith(b"data: ")
        assert value(scrape(url), "patchbay_streams_in_flight") == 1
        fake.release_held()
        assert b"[DONE]" in resp.read()
        conn.close()
        settled(url, lambda s: value(s, "patchbay_streams_in_flight") == 0)


def test_two_workers_add_up_to_the_traffic_sent(tmp_path: Path) -> None:
    """Requests, tokens and time to first token, summed over both workers' files, are
    exactly what was sent; traffic goes on until each worker has served some."""
    providers = {"providers": {"echo": {"kind": "echo", "models": ["echo-1"]}}}
    cfg = write_config(tmp_path / "cfg", providers, server={"watch": {"enabled": False}})
    directory = tmp_path / "metrics"
    directory.mkdir()
    port = free_port()
    env = {**os.environ, MULTIPROC_ENV: str(directory)}
    args = [sys.executable, "-m", "engine", "serve", "--config-dir", str(cfg)]
    args += ["--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, env=env, stdout=log, stderr=log)
        try:
            _wait_listening(port, process, log_path)
            _wait_for_workers(directory, 2, process, log_path)
            url = f"http://127.0.0.1:{port}"
            sent = streams = prompt = completion = 0
            while sent < 200 and (sent < 16 or min(per_worker_chats(directory, process.pid)) == 0):
                stream = sent % 4 == 0
                extra = {"stream": True, "stream_options": {"include_usage": True}}
                body = {"model": "echo/echo-1", "messages": [{"role": "user", "content": "hi"}]}
                status, answer = post(url + CHAT, {**body, **(extra if stream else {})})
                assert status == 200
                usage = answer_usage(answer, stream)
                prompt, completion = prompt + usage[0], completion + usage[1]
                sent, streams = sent + 1, streams + stream
            assert min(per_worker_chats(directory, process.pid)) > 0
            samples = settled(
                url, lambda s: value(s, "patchbay_requests_total", route=CHAT) == sent
            )
        finally:
            process.send_signal(signal.SIGTERM)  # the server this test started, by its PID
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
    assert value(samples, "patchbay_request_duration_seconds_count", route=CHAT) == sent
    assert value(samples, "patchbay_time_to_first_token_seconds_count") == streams
    tokens = {"provider": "echo", "model": "echo/echo-1", "key": ""}
    assert value(samples, "patchbay_tokens_total", **tokens, type="prompt") == prompt
    assert value(samples, "patchbay_tokens_total", **tokens, type="completion") == completion
    assert value(samples, "patchbay_upstream_requests_total", outcome="ok") == sent
    assert value(samples, "patchbay_streams_in_flight") == 0


def per_worker_chats(directory: Path, supervisor: int) -> list[float]:
    """Chat requests each worker's own file counts (the supervisor's file is left out)."""
    counts = []
    for path in sorted(directory.glob("counter_*.db")):
        if path.stem.endswith(f"_{supervisor}"):
            continue
        families = MultiProcessCollector.merge([str(path)], accumulate=True)
        counts.append(
            sum(
                s.value
                for family in families
                for s in family.samples
                if s.name == "patchbay_requests_total" and s.labels.get("route") == CHAT
            )
        )
    assert len(counts) == 2, counts
    return counts


def answer_usage(answer: bytes, stream: bool) -> tuple[int, int]:
    """Prompt and completion tokens an answer reported (a stream: in its usage chunk)."""
    if not stream:
        usage = json.loads(answer)["usage"]
    else:
        events = [line[6:] for line in answer.split(b"\n") if line.startswith(b"data: {")]
        usage = next(u for e in events if (u := json.loads(e).get("usage")))
    return int(usage["prompt_tokens"]), int(usage["completion_tokens"])
