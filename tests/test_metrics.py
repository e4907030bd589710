"""GET /metrics: Prometheus text, `patchbay_` names, request, upstream and reload series."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from engine.observe.exchange import Exchange
from engine.observe.metrics import Metrics
from engine.observe.readings import Readings
from engine.observe.workers import MULTIPROC_ENV, WorkerRestarts, prepare_multiprocess
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import free_port, gateway, write_config

ADMIN = "admin-key-for-metrics"
SERVER: dict[str, Any] = {
    "watch": {"enabled": False},
    "auth": {"admin_key": "${PATCHBAY_ADMIN_KEY}"},
}


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", API_KEY)
    monkeypatch.setenv("PATCHBAY_ADMIN_KEY", ADMIN)
    with FakeOpenAI(("gpt-test", "fail-500")).in_thread() as fake:
        yield fake


def providers(fake_url: str) -> dict[str, Any]:
    return {
        "defaults": {"provider": "echo", "timeout": 2, "retries": 0},
        "providers": {
            "echo": {"kind": "echo", "models": ["echo-1"]},
            "up": {
                "kind": "openai",
                "base_url": fake_url,
                "api_key": "${FAKE_UPSTREAM_KEY}",
                "models": ["gpt-test", "fail-500"],
            },
        },
    }


def post(url: str, body: dict[str, Any], key: str | None = None) -> int:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


def chat(url: str, model: str) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return post(url + "/v1/chat/completions", body)


def scrape(url: str) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """The content type and every sample, keyed by (name, sorted labels)."""
    with urllib.request.urlopen(url + "/metrics", timeout=20) as resp:
        content_type = resp.headers["Content-Type"]
        text = resp.read().decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return content_type, samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (others summed over)."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= set(have))


def test_requests_upstreams_and_durations_are_counted(tmp_path: Path, upstream: FakeOpenAI) -> None:
    cfg = write_config(tmp_path, providers(upstream.url), server=SERVER)
    with gateway(cfg) as url:
        assert [chat(url, m) for m in ("echo/echo-1", "up/gpt-test", "up/gpt-test")] == [200] * 3
        assert chat(url, "up/fail-500") == 502
        assert chat(url, "nope/none") == 404
        content_type, samples = scrape(url)
    assert content_type.startswith("text/plain; version=0.0.4")
    assert all(name.startswith("patchbay_") for name, _ in samples)
    route = {"route": "/v1/chat/completions", "method": "POST"}
    assert value(samples, "patchbay_requests_total", **route, status="200") == 3
    assert value(samples, "patchbay_requests_total", **route, status="502") == 1
    assert value(samples, "patchbay_requests_total", **route, status="404") == 1
    assert value(samples, "patchbay_request_duration_seconds_count", **route) == 5
    assert value(samples, "patchbay_request_duration_seconds_bucket", **route, le="+Inf") == 5
    assert value(samples, "patchbay_request_duration_seconds_sum", **route) > 0
    upstreams = "patchbay_upstream_requests_total"
    assert value(samples, upstreams, provider="up", outcome="ok") == 2
    assert value(samples, upstreams, provider="up", outcome="5xx") == 1
    assert value(samples, upstreams, provider="echo", outcome="ok") == 1
    # The model served is a label; a model no config names is counted without its name.
    served = {**route, "status": "200", "provider": "up", "model": "up/gpt-test"}
    assert value(samples, "patchbay_requests_total", **served, format="openai", key="") == 2
    missing = {**route, "status": "404", "provider": "", "model": ""}
    assert value(samples, "patchbay_requests_total", **missing) == 1
    assert not any("nope" in str(labels) for _, labels in samples)


def test_config_reloads_are_counted_by_result(tmp_path: Path, upstream: FakeOpenAI) -> None:
    cfg = write_config(tmp_path, providers(upstream.url), server=SERVER)
    with gateway(cfg) as url:
        _, samples = scrape(url)
        for result in ("applied", "unchanged", "rejected"):
            assert value(samples, "patchbay_config_reloads_total", result=result) == 0
        assert post(url + "/admin/reload", {}, ADMIN) == 200
        (cfg / "providers.yaml").write_text("providers: [this is not a mapping\n")
        assert post(url + "/admin/reload", {}, ADMIN) == 200  # answered; the edit is rejected
        _, samples = scrape(url)
        assert value(samples, "patchbay_config_reloads_total", result="applied") == 1
        assert value(samples, "patchbay_config_reloads_total", result="rejected") == 1
        _, again = scrape(url)  # scraping twice does not count twice
        assert value(again, "patchbay_config_reloads_total", result="applied") == 1


def test_metrics_route_is_declared_in_routes_yaml(tmp_path: Path, upstream: FakeOpenAI) -> None:
    routes = {"routes": [{"path": "/metrics", "handler": "metrics.scrape", "enabled": False}]}
    with gateway(write_config(tmp_path, providers(upstream.url), routes, SERVER)) as url:
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(url + "/metrics", timeout=20)
        assert missing.value.code == 404


def test_prepare_multiprocess_empties_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, "placeholder")  # restored after the test
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"stale")
    prepare_multiprocess(directory)
    assert list(directory.iterdir()) == []
    assert os.environ[MULTIPROC_ENV] == str(directory)


def test_a_scrape_leaves_out_the_file_of_a_worker_still_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replacement worker creates its file empty and sizes it a moment later."""
    monkeypatch.setenv(MULTIPROC_ENV, "placeholder")  # as it was, once the test is over
    prepare_multiprocess(tmp_path / "metrics")
    # As in a worker started with the directory set: samples go to files there.
    monkeypatch.setattr(values, "ValueClass", values.get_value_class())
    metrics = Metrics()
    exchange = Exchange("id", "/v1/models", "GET", "openai", started=0.0, status=200)
    metrics.record(exchange, ended=0.01)
    (tmp_path / "metrics" / "counter_999999.db").touch()
    text = metrics.scrape(Readings(reloads={})).decode()
    assert (
        'patchbay_requests_total{format="openai",key="",method="GET",model="",provider="",'
        'route="/v1/models",status="200"} 1.0'
    ) in text


def test_a_dead_workers_live_gauges_go_and_the_restart_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, "placeholder")  # as it was, once the test is over
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)  # WorkerRestarts resets it
    prepare_multiprocess(tmp_path / "metrics")
    live = tmp_path / "metrics" / "gauge_livesum_4242.db"
    live.write_bytes(b"")
    restarts = WorkerRestarts()
    restarts.record(4242)
    assert not live.exists()
    # The supervisor's count is in its file: a worker's scrape adds it in.
    assert "patchbay_worker_restarts_total 1.0" in Metrics().scrape(Readings({})).decode()


def test_several_workers_report_their_sum(tmp_path: Path, server: str) -> None:
    cfg = write_config(tmp_path / "cfg", providers("http://127.0.0.1:9"), server=SERVER)
    directory = tmp_path / "metrics"
    directory.mkdir()
    port = free_port()
    env = {**os.environ, MULTIPROC_ENV: str(directory), "FAKE_UPSTREAM_KEY": API_KEY}
    args = [sys.executable, "-m", "engine", "serve", "--config-dir", str(cfg)]
    args += ["--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--server", server]
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(args, env=env, stdout=log, stderr=log)
    try:
        _wait_listening(port, process, tmp_path / "serve.log")
        _wait_for_workers(
            directory, 2, process, tmp_path / "serve.log"
        )  # each writes its samples there from start-up
        url = f"http://127.0.0.1:{port}"
        assert [chat(url, "echo/echo-1") for _ in range(12)] == [200] * 12
        route = {"route": "/v1/chat/completions", "method": "POST", "status": "200"}
        scraped = {"route": "/metrics", "method": "GET", "status": "200"}
        # A worker counts a request once it has sent the answer, so a scrape answered by
        # the other worker can run a moment before the count lands: the sum must catch
        # up exactly, and never count a request that has not been answered.
        # `answered`: scrapes whose answer has arrived here
        for answered in range(100):  # new connections, so either worker answers
            _, samples = scrape(url)
            chats = value(samples, "patchbay_requests_total", **route)
            counted = value(samples, "patchbay_requests_total", **scraped)
            assert chats <= 12 and counted <= answered
            if chats == 12 and counted == answered and answered >= 6:
                break
            threading.Event().wait(0.02)
        else:
            raise AssertionError(f"{answered + 1} scrapes answered, {counted} counted")
    finally:
        process.send_signal(signal.SIGTERM)  # the server this test started, by its PID
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(600):
        _check_alive(process, log)
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        threading.Event().wait(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def _wait_for_workers(
    directory: Path, count: int, process: subprocess.Popen[bytes], log: Path
) -> None:
    for _ in range(600):
        _check_alive(process, log)
        # The supervisor writes a file too (its count of worker restarts).
        writers = {p.stem.rsplit("_", 1)[1] for p in directory.glob("counter_*.db")}
        if len(writers - {str(process.pid)}) == count:
            return
        threading.Event().wait(0.05)
    raise TimeoutError(f"{count} workers did not start:\n{log.read_text()}")


def _check_alive(process: subprocess.Popen[bytes], log: Path) -> None:
    if process.poll() is not None:
        raise RuntimeError(f"patchbay serve exited:\n{log.read_text()}")
