"""The server matrix: every promise of `patchbay serve`, on each server it runs on.

Each test runs `patchbay serve --server NAME` in a subprocess against a fake upstream
on loopback, once per server (the `server` fixture). The tests that need a server of
their own (shutdown, dead workers, SIGHUP) start one; the rest share one per server.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from engine.config.settings import SERVERS
from tests.conftest import upstream_providers
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import write_config
from tests.reload_helpers import wait_for
from tests.served import Served, health, served, stop

ADMIN_KEY = "admin-key-for-the-server-matrix"
ENV = {"FAKE_UPSTREAM_KEY": API_KEY, "MATRIX_ADMIN_KEY": ADMIN_KEY}
SERVER = {
    "request_logging": True,
    "max_request_size": 4096,
    "request_timeout": 1,
    "keep_alive_timeout": 1,
    "auth": {"admin_key": "${MATRIX_ADMIN_KEY}"},
}
SLOW_UPSTREAM = 10  # provider timeout: request_timeout (1 s) runs out first


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(("gpt-test", "slow", "hold", "held")).in_thread() as upstream:
        yield upstream


def providers(fake: FakeOpenAI) -> dict[str, Any]:
    config = upstream_providers(fake.url)
    config["defaults"]["timeout"] = SLOW_UPSTREAM
    config["providers"]["up"]["models"] = ["gpt-test", "slow", "hold", "held"]
    return config


@pytest.fixture(scope="module", params=SERVERS)
def shared(
    request: pytest.FixtureRequest, fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One Patchbay per server (one worker) for the tests that only send requests."""
    directory = write_config(
        tmp_path_factory.mktemp("matrix") / "cfg", providers(fake), server=SERVER
    )
    with served(directory, str(request.param), env=ENV) as running:
        yield running


def post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def chat_body(model: str, stream: bool = False, text: str = "hello") -> dict[str, Any]:
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]}


def open_stream(served_url: str, model: str) -> tuple[http.client.HTTPConnection, Any]:
    """A stream's connection and response, its first event read."""
    port = int(served_url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(
        "POST",
        "/v1/chat/completions",
        body=json.dumps(chat_body(f"up/{model}", stream=True)),
        headers={"Content-Type": "application/json"},
    )
    response = connection.getresponse()
    assert response.status == 200
    assert response.readline().startswith(b"data: ")
    return connection, response


# ---- shared: one worker per server ------------------------------------------------------


def test_pages_and_docs_are_served(shared: Served) -> None:
    for path in ("/", "/docs", "/redoc"):
        status, body = get(shared.url + path)
        assert status == 200 and b"<html" in body.lower(), path
    status, body = get(shared.url + "/openapi.json")
    assert status == 200 and "/v1/chat/completions" in json.loads(body)["paths"]


def test_max_request_size_answers_413(shared: Served) -> None:
    status, error = post(
        shared.url + "/v1/chat/completions", chat_body("echo/echo-1", text="x" * 5000)
    )
    assert status == 413 and error["error"]["code"] == "request_too_large"
    status, _ = post(shared.url + "/v1/chat/completions", chat_body("echo/echo-1", text="x" * 100))
    assert status == 200


def test_request_timeout_answers_504_and_408_for_a_body_that_stops(shared: Served) -> None:
    status, error = post(shared.url + "/v1/chat/completions", chat_body("up/slow"))
    assert status == 504 and error["error"]["code"] == "request_timeout"
    with socket.create_connection(("127.0.0.1", shared.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: patchbay\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model":'
        )
        answer = _read_until_closed_or(sock, b"request_timeout")
    assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer


def test_keep_alive_timeout_closes_idle_connections(shared: Served) -> None:
    with socket.create_connection(("127.0.0.1", shared.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: patchbay\r\n\r\n")
        _read_until_closed_or(sock, b'"ok"')
        started = time.monotonic()
        assert _read_until_closed_or(sock, b"never") == b""
        assert 0.5 < time.monotonic() - started < 5  # keep_alive_timeout is 1 s
    with socket.create_connection(("127.0.0.1", shared.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: patchbay\r\n\r\n")
        _read_until_closed_or(sock, b'"ok"')
        sock.shutdown(socket.SHUT_WR)  # the client is done: the server lets go too
        assert _read_until_closed_or(sock, b"never") == b""


def test_a_client_that_hangs_up_closes_the_upstream(shared: Served, fake: FakeOpenAI) -> None:
    hung_up = fake.hung_up
    connection, _ = open_stream(shared.url, "hold")  # a stream, its first event read
    connection.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
    connection.close()
    wait_for(lambda: fake.hung_up == hung_up + 1, "the upstream stream closed by Patchbay")
    body = json.dumps(chat_body("up/hold")).encode()  # an answer the upstream holds back
    with socket.create_connection(("127.0.0.1", shared.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: patchbay\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        wait_for(
            lambda: len(fake.requests) and fake.requests[-1].json()["model"] == "hold", "asked"
        )
    wait_for(lambda: fake.hung_up == hung_up + 2, "the upstream call dropped by Patchbay")
    wait_for(lambda: b'status="499"' in get(shared.url + "/metrics")[1], "the 499 counted")


def test_access_log_and_metrics_count_each_request(shared: Served) -> None:
    request_id = f"matrix-{time.monotonic_ns()}"
    status, _ = post(
        shared.url + "/v1/chat/completions", chat_body("echo/echo-1"), {"X-Request-ID": request_id}
    )
    assert status == 200
    wait_for(lambda: f"id={request_id}" in shared.log(), "the access-log line")
    line = next(line for line in shared.log().splitlines() if f"id={request_id}" in line)
    assert "POST /v1/chat/completions 200" in line
    _, metrics = get(shared.url + "/metrics")
    served = {
        "route": "/v1/chat/completions",
        "method": "POST",
        "status": "200",
        "provider": "echo",
        "model": "echo/echo-1",
    }
    counts = [
        sample.value
        for family in text_string_to_metric_families(metrics.decode())
        for sample in family.samples
        if sample.name == "patchbay_requests_total" and served.items() <= sample.labels.items()
    ]
    assert counts and sum(counts) >= 1
    assert b"patchbay_worker_restarts_total 0.0" in metrics


def _read_until_closed_or(sock: socket.socket, marker: bytes) -> bytes:
    """What the server sends until it closes, or until `marker` has arrived."""
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


# ---- one server each: signals, shutdown, dead workers ------------------------------------


def test_sighup_rereads_the_config(tmp_path: Path, server: str, fake: FakeOpenAI) -> None:
    config = providers(fake)
    directory = write_config(
        tmp_path / "cfg", config, server={**SERVER, "watch": {"enabled": False}}
    )
    with served(directory, server, env=ENV) as running:
        config["providers"]["spare"] = {"kind": "echo", "models": ["spare-1"]}
        (directory / "providers.yaml").write_text(yaml.safe_dump(config))
        status, _ = post(running.url + "/v1/chat/completions", chat_body("spare/spare-1"))
        assert status == 404  # not watched: the edit waits for SIGHUP
        running.process.send_signal(signal.SIGHUP)
        wait_for(
            lambda: (
                post(running.url + "/v1/chat/completions", chat_body("spare/spare-1"))[0] == 200
            ),
            "the edit applied on SIGHUP",
        )
        assert running.process.poll() is None


@pytest.mark.parametrize("workers", [1, 2])
def test_after_sigterm_new_connections_are_refused_and_streams_finish(
    tmp_path: Path, server: str, workers: int
) -> None:
    with FakeOpenAI(("held",)).in_thread() as upstream:
        directory = write_config(tmp_path / "cfg", providers(upstream), server=SERVER)
        with served(directory, server, workers=workers, env=ENV) as running:
            connection, response = open_stream(running.url, "held")
            running.process.send_signal(signal.SIGTERM)
            assert _refused_after_stop(running), "a connection made after SIGTERM was accepted"
            upstream.release_held()
            assert response.read().rstrip().endswith(b"data: [DONE]")
            connection.close()
            assert stop(running.process) == 0


def _refused_after_stop(running: Served) -> bool:
    """True once a new connection is refused; False if one was accepted and left hanging.

    A connection made in the instant before the signal took effect is answered or, if
    the listener closed with it still queued, reset at once: neither waits."""
    for _ in range(400):
        try:
            with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
                sock.settimeout(5)
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: patchbay\r\nConnection: close\r\n\r\n")
                sock.recv(65536)  # an answer, or b"" for a close
        except ConnectionRefusedError:
            return True
        except TimeoutError:
            return False  # accepted into a queue that nobody reads
        except ConnectionResetError:
            pass
        time.sleep(0.01)
    return False


def test_streams_still_running_when_the_grace_period_ends_get_an_error_event(
    tmp_path: Path, server: str
) -> None:
    with FakeOpenAI(("held",)).in_thread() as upstream:
        settings = {**SERVER, "graceful_timeout": 1, "request_timeout": 60}
        directory = write_config(tmp_path / "cfg", providers(upstream), server=settings)
        with served(directory, server, workers=2, env=ENV) as running:
            connection, response = open_stream(running.url, "held")
            answers: list[tuple[int, Any]] = []
            url = running.url + "/v1/chat/completions"
            asking = threading.Thread(
                target=lambda: answers.append(post(url, chat_body("up/hold")))
            )
            asking.start()  # a JSON answer the upstream holds back
            wait_for(lambda: any(r.json()["model"] == "hold" for r in upstream.requests), "asked")
            running.process.send_signal(signal.SIGTERM)
            rest = response.read().decode()  # held by the upstream past graceful_timeout
            connection.close()
            events = [line[6:] for line in rest.splitlines() if line.startswith("data: ")]
            assert events, rest
            error = json.loads(events[-1])["error"]
            assert error["code"] == "server_shutting_down" and error["type"] == "api_error"
            asking.join(30)
            ((status, body),) = answers
            assert status == 503 and body["error"]["code"] == "server_shutting_down"
            assert stop(running.process) == 0
            assert running.log().count("graceful_timeout is over") >= 1
        upstream.release_held()  # its handler still waits; the fake stops once it is done


def test_a_dead_worker_is_replaced_while_the_others_serve(tmp_path: Path, server: str) -> None:
    directory = write_config(
        tmp_path / "cfg", {"providers": {"e": {"kind": "echo", "models": ["e"]}}}, server=SERVER
    )
    with served(directory, server, workers=2, env=ENV) as running:
        first = wait_for(lambda: _two(running.workers()), "two workers", deadline=30)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        for _ in range(30):  # the other worker answers every fresh connection
            assert health(running.url) == 200
        second = wait_for(lambda: _two(running.workers() - {victim}), "a new worker", deadline=30)
        (fresh,) = second - first
        wait_for(lambda: _answered_by(running, fresh), "the new worker serving", deadline=30)
        assert f"worker {victim} exited (killed by SIGKILL)" in running.log()
        assert "a new one starts now" in running.log()
        assert _restarts(running) == 1
        # A replacement that dies as soon as it started is replaced after a pause.
        os.kill(fresh, signal.SIGKILL)
        wait_for(lambda: "a new one starts in 0.5s" in running.log(), "the back-off logged")
        wait_for(lambda: _two(running.workers() - {victim, fresh}), "another worker", deadline=30)
        assert _restarts(running) == 2


def _two(pids: set[int]) -> set[int] | None:
    return pids if len(pids) == 2 else None


def _answered_by(running: Served, pid: int) -> bool:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    return any(
        json.loads(get(running.url + "/admin/config", headers)[1])["pid"] == pid for _ in range(10)
    )


def _restarts(running: Served) -> float:
    _, metrics = get(running.url + "/metrics")
    for line in metrics.decode().splitlines():
        if line.startswith("patchbay_worker_restarts_total "):
            return float(line.split()[1])
    raise AssertionError("patchbay_worker_restarts_total is missing")
