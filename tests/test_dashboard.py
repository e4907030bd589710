"""GET /dashboard and GET /dashboard/data over HTTP: the document's shape and counts,
the reload history, the admin key (bearer, x-admin-key, Basic) and two workers.

The page drawing its charts in a real browser is tests/test_browser_dashboard.py.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from engine.live.history import KEPT, ReloadHistory
from engine.site.dashboard_schemas import DASHBOARD_DATA
from tests.conftest import upstream_providers
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import free_port, gateway, write_config
from tests.pages_harness import wait_for

ADMIN = "adm-7Qx2-k9Lw-51c9"
ADMIN_SERVER: dict[str, Any] = {
    "watch": {"enabled": False},
    "auth": {"admin_key": "${PATCHBAY_ADMIN_KEY}"},
}
OPEN_SERVER: dict[str, Any] = {"watch": {"enabled": False}}
CHALLENGE = 'Basic realm="Patchbay dashboard", charset="UTF-8"'


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", API_KEY)
    monkeypatch.setenv("PATCHBAY_ADMIN_KEY", ADMIN)


def call(
    url: str, headers: dict[str, str] | None = None, body: Any = None, method: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-case headers, body) of one request on a fresh connection."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=20) as reply:
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def data(url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    status, _, body = call(url + "/dashboard/data", headers)
    assert status == 200, body[:300]
    document: dict[str, Any] = json.loads(body)
    Draft202012Validator(DASHBOARD_DATA).validate(document)  # what /openapi.json promises
    return document


def chat(url: str, model: str, stream: bool = False) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi there"}]}
    if stream:
        body["stream"] = True
    return call(url + "/v1/chat/completions", body=body)[0]


def provider(document: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [p for p in document["providers"] if p["name"] == name]
    return found


def test_data_counts_every_kind_of_answer_but_not_its_own_polls(
    tmp_path: Path, fake_openai: FakeOpenAI, env: None
) -> None:
    cfg = write_config(tmp_path / "cfg", upstream_providers(fake_openai.url), server=OPEN_SERVER)
    with gateway(cfg) as url:
        before = data(url)
        assert before["requests"] == {"total": 0, "errors_5xx": 0, "errors_4xx": 0}
        assert before["duration_seconds"]["count"] == 0
        assert before["tokens"] == {}
        assert [chat(url, "up/gpt-test") for _ in range(3)] == [200] * 3
        assert chat(url, "up/gpt-test", stream=True) == 200
        assert chat(url, "up/fail-500") == 502
        assert chat(url, "nope/none") == 404
        assert call(url + "/metrics")[0] == 200  # a scrape is traffic; a dashboard poll is not
        data(url)
        after = data(url)
    assert after["requests"] == {"total": 7, "errors_5xx": 1, "errors_4xx": 1}
    duration = after["duration_seconds"]
    assert duration["count"] == 7 and duration["counts"][-1] == 7 and duration["sum"] > 0
    assert duration["counts"] == sorted(duration["counts"])  # cumulative buckets
    assert len(duration["counts"]) == len(duration["le"])
    assert after["first_token_seconds"]["count"] == 1  # the one stream
    tokens = after["tokens"]["up/gpt-test"]
    assert tokens["prompt"] > 0 and tokens["completion"] > 0
    up = provider(after, "up")
    assert up["attempts"] == {"ok": 4, "5xx": 1}
    # One 5xx is short of the cooldown rule's three: failing, not cooling.
    assert up["health"] == "failing"
    assert up["unwell"] == {"fail-500": "failing"}
    assert up["models"]["failing"] == 1 and up["models"]["cooling"] == 0
    assert provider(after, "echo")["health"] == "ok"
    assert after["shared_state"] == {"backend": "memory", "ok": True, "failing_since": None}
    assert len(after["config"]["hash"]) == 64 and after["config"]["loaded_at"] > 0
    assert after["time"] >= before["time"] and after["pid"] == os.getpid()


def test_a_provider_that_cools_down_shows_as_cooling(
    tmp_path: Path, fake_openai: FakeOpenAI, env: None
) -> None:
    providers = upstream_providers(fake_openai.url)
    providers["defaults"]["cooldown"] = {"failures": 1, "window": 60, "duration": 60}
    cfg = write_config(tmp_path / "cfg", providers, server=OPEN_SERVER)
    with gateway(cfg) as url:
        assert chat(url, "up/fail-500") == 502
        up = provider(data(url), "up")
    assert up["health"] == "cooling"
    assert up["unwell"]["fail-500"].startswith("cooling (")
    assert up["models"]["cooling"] == 1


def test_reload_history_keeps_applied_edits_and_rejected_ones_with_their_problems(
    tmp_path: Path, fake_openai: FakeOpenAI, env: None
) -> None:
    cfg = write_config(tmp_path / "cfg", upstream_providers(fake_openai.url), server=ADMIN_SERVER)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    providers = cfg / "providers.yaml"
    good = yaml.safe_load(providers.read_text())
    with gateway(cfg) as url:
        assert data(url, admin)["reloads"]["history"] == []
        good["providers"]["echo"]["enabled"] = False
        providers.write_text(yaml.safe_dump(good))
        assert call(url + "/admin/reload", admin, {}, "POST")[0] == 200
        # A broken edit whose problem quotes the upstream key: the key never shows.
        good["defaults"]["timeout"] = API_KEY
        providers.write_text(yaml.safe_dump(good))
        assert call(url + "/admin/reload", admin, {}, "POST")[0] == 200
        document = data(url, admin)
    applied, rejected = document["reloads"]["history"]
    assert applied["result"] == "applied" and rejected["result"] == "rejected"
    assert applied["changes"] == ["provider echo switched off", "models removed: echo/echo-1"]
    assert applied["problems"] == [] and rejected["changes"] == []
    assert rejected["problems"] and rejected["problems"][0].startswith("providers.yaml:")
    assert "got '***'" in rejected["problems"][0]  # quoted, masked
    assert API_KEY not in json.dumps(document)
    assert rejected["config_hash"] == applied["config_hash"] == document["config"]["hash"]
    assert applied["at"] <= rejected["at"]
    assert document["reloads"]["counts"]["applied"] == 1
    assert document["reloads"]["counts"]["rejected"] == 1


def test_reload_history_keeps_the_last_ones_only() -> None:
    clock = iter(range(100))
    history = ReloadHistory(clock=lambda: float(next(clock)))
    for n in range(KEPT + 5):
        history.add("rejected", "h", [f"providers.yaml:1:1: problem {n}"])
    entries = history.entries(lambda line: line.replace("problem", "p"))
    assert len(entries) == KEPT
    assert entries[0]["problems"] == ["providers.yaml:1:1: p 5"]
    assert entries[-1] == {
        "at": float(KEPT + 4),
        "result": "rejected",
        "config_hash": "h",
        "changes": [],
        "problems": [f"providers.yaml:1:1: p {KEPT + 4}"],
    }


def test_with_an_admin_key_both_routes_want_it(
    tmp_path: Path, fake_openai: FakeOpenAI, env: None
) -> None:
    server = {**ADMIN_SERVER, "auth": {**ADMIN_SERVER["auth"], "required": True}}
    server["auth"]["keys"] = [{"name": "ci", "key": "client-key-1234"}]
    cfg = write_config(tmp_path / "cfg", upstream_providers(fake_openai.url), server=server)
    with gateway(cfg) as url:
        page, feed = url + "/dashboard", url + "/dashboard/data"
        for wrong in ({}, basic("ops", "not-the-key"), {"Authorization": "Basic %%%"}):
            status, headers, body = call(page, wrong)
            assert status == 401
            assert headers["www-authenticate"] == CHALLENGE  # the browser asks for the key
            assert json.loads(body)["error"]["type"] == "authentication_error"
        for wrong in ({}, basic("ops", "nope"), {"Authorization": "Bearer client-key-1234"}):
            status, headers, body = call(feed, wrong)
            assert status == 401
            assert headers["www-authenticate"] == "Bearer"  # a poll never makes a prompt
            error = json.loads(body)["error"]
            assert set(error) == {"message", "type", "param", "code"}
            assert error["code"] == "invalid_api_key"
        for right in (
            basic("ops", ADMIN),
            basic("", ADMIN),
            {"Authorization": f"Bearer {ADMIN}"},
            {"x-admin-key": ADMIN},
        ):
            status, headers, body = call(page, right)
            assert status == 200
            assert "script-src 'self'" in headers["content-security-policy"]
            assert headers["content-type"] == "text/html; charset=utf-8"
            assert call(feed, right)[0] == 200
        # No client key needed, but the admin routes take no Basic auth.
        assert call(url + "/admin/config", basic("ops", ADMIN))[0] == 401


def test_without_an_admin_key_both_routes_are_open(
    tmp_path: Path, fake_openai: FakeOpenAI, env: None
) -> None:
    cfg = write_config(tmp_path / "cfg", upstream_providers(fake_openai.url), server=OPEN_SERVER)
    with gateway(cfg) as url:
        status, headers, body = call(url + "/dashboard")
        assert status == 200 and "www-authenticate" not in headers
        assert "content-security-policy" in headers
        assert call(url + "/dashboard/data", basic("any", "thing"))[0] == 200
        assert call(url + "/admin/config")[0] == 404  # the admin routes stay closed
    html = body.decode()
    assert 'data-source="/dashboard/data"' in html
    assert '<script src="/_patchbay/static/dashboard.js"></script>' in html
    assert "<script>" not in html  # the CSP allows no inline script


def test_open_to_all_on_a_keyed_gateway_it_withholds_rejected_edits_problems(
    tmp_path: Path, fake_openai: FakeOpenAI, env: None
) -> None:
    server = {"auth": {"required": True, "keys": [{"name": "ci", "key": "client-key-1234"}]}}
    cfg = write_config(tmp_path / "cfg", upstream_providers(fake_openai.url), server=server)
    with gateway(cfg) as url:
        (cfg / "providers.yaml").write_text("providers: [not a mapping\n")  # the watcher sees it
        wait_for(lambda: bool(data(url)["reloads"]["history"]), what="the rejected edit")
        (rejected,) = data(url)["reloads"]["history"]
    assert rejected["result"] == "rejected"
    assert rejected["problems"] == [
        "(hidden while the dashboard is open to all: set auth.admin_key to see it here)"
    ]


def test_base_url_prefixes_the_page_its_data_and_the_nav_link(
    tmp_path: Path, fake_openai: FakeOpenAI, env: None
) -> None:
    server = {**OPEN_SERVER, "base_url": "/api"}
    cfg = write_config(tmp_path / "cfg", upstream_providers(fake_openai.url), server=server)
    with gateway(cfg) as url:
        page = call(url + "/api/dashboard")[2].decode()
        landing = call(url + "/api/")[2].decode()
        assert call(url + "/api/dashboard/data")[0] == 200
    assert 'data-source="/api/dashboard/data"' in page
    assert '<a href="/api/dashboard">Dashboard</a>' in landing


def test_two_workers_answer_with_every_workers_counts(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "cfg", upstream_providers("http://127.0.0.1:9"))
    port = free_port()
    args = [sys.executable, "-m", "engine", "serve", "--config-dir", str(cfg)]
    args += ["--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--no-watch"]
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url, process, log_path), timeout=30, what="the workers")
        body = {"model": "echo/echo-1", "messages": [{"role": "user", "content": "hi"}]}
        usages = []
        for _ in range(10):  # fresh connections: the workers share them out
            status, _, answer = call(url + "/v1/chat/completions", body=body)
            assert status == 200
            usages.append(json.loads(answer)["usage"]["prompt_tokens"])
        assert [chat(url, "nope/none") for _ in range(6)] == [404] * 6
        # Probes counted too, so the exact totals to look for are the 4xx and the tokens.
        seen: dict[int, tuple[int, int]] = {}

        def both_count_all() -> bool:
            document = data(url)  # a fresh connection: either worker answers
            tokens = document["tokens"].get("echo/echo-1", {}).get("prompt", 0)
            seen[document["pid"]] = (document["requests"]["errors_4xx"], tokens)
            assert document["requests"]["errors_4xx"] <= 6 and tokens <= sum(usages)
            return len(seen) == 2 and set(seen.values()) == {(6, sum(usages))}

        wait_for(both_count_all, timeout=20, what="both workers counting every request")
    finally:
        process.send_signal(signal.SIGTERM)  # the server this test started, by its PID
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _answers(url: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"patchbay serve exited:\n{log.read_text()}")
    try:
        return call(url + "/ready")[0] == 200
    except OSError:
        return False


def test_openapi_documents_both_routes_and_the_data_matches_it(
    tmp_path: Path, fake_openai: FakeOpenAI, env: None
) -> None:
    cfg = write_config(tmp_path / "cfg", upstream_providers(fake_openai.url), server=OPEN_SERVER)
    with gateway(cfg) as url:
        document = json.loads(call(url + "/openapi.json")[2])
    page = document["paths"]["/dashboard"]["get"]
    feed = document["paths"]["/dashboard/data"]["get"]
    assert list(page["responses"]["200"]["content"]) == ["text/html"]
    assert feed["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DashboardData"
    }
    for operation in (page, feed):
        assert operation["security"] == [{"bearer": []}, {"basic": []}]
        assert "401" in operation["responses"] and "404" not in operation["responses"]
    assert document["components"]["schemas"]["DashboardData"] == DASHBOARD_DATA
    assert document["components"]["securitySchemes"]["basic"] == {"type": "http", "scheme": "basic"}
