"""CORS from `cors_origins`: preflights, listed origins, `"*"` without credentials, reloads."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.harness import gateway, write_config

ADMIN = "admin-key-for-cors"
APP = "https://app.example.com"
PROVIDERS: dict[str, Any] = {
    "defaults": {"provider": "echo"},
    "providers": {"echo": {"kind": "echo", "models": ["echo-1"]}},
}
CHAT = json.dumps({"model": "echo/echo-1", "messages": [{"role": "user", "content": "hi"}]})


@pytest.fixture(autouse=True)
def admin_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATCHBAY_ADMIN_KEY", ADMIN)


def server(origins: list[str] | None) -> dict[str, Any]:
    settings: dict[str, Any] = {"watch": {"enabled": False}}
    settings["auth"] = {"admin_key": "${PATCHBAY_ADMIN_KEY}"}
    if origins is not None:
        settings["cors_origins"] = origins
    return settings


def request(
    url: str, method: str, path: str, headers: dict[str, str], body: str | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request with exactly these headers (urllib would add its own)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=20)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def preflight(url: str, origin: str, path: str = "/v1/chat/completions") -> Any:
    return request(
        url,
        "OPTIONS",
        path,
        {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os",
        },
    )


def test_preflight_of_a_listed_origin_is_answered_before_routing(tmp_path: Path) -> None:
    with gateway(write_config(tmp_path, PROVIDERS, server=server([APP]))) as url:
        status, headers, body = preflight(url, APP)
        assert status == 204 and body == b""
        assert headers["Access-Control-Allow-Origin"] == APP
        assert headers["Access-Control-Allow-Credentials"] == "true"
        assert "POST" in headers["Access-Control-Allow-Methods"]
        allowed = headers["Access-Control-Allow-Headers"]
        assert allowed == "authorization, content-type, x-stainless-os"
        assert "Origin" in headers["Vary"]
        assert headers["x-request-id"]


def test_listed_origin_sees_the_answer_and_its_headers(tmp_path: Path) -> None:
    with gateway(write_config(tmp_path, PROVIDERS, server=server([APP]))) as url:
        headers = {"Origin": APP, "Content-Type": "application/json"}
        status, got, _ = request(url, "POST", "/v1/chat/completions", headers, CHAT)
        assert status == 200
        assert got["Access-Control-Allow-Origin"] == APP
        assert got["Vary"] == "Origin"
        exposed = got["Access-Control-Expose-Headers"]
        assert "x-request-id" in exposed and "x-patchbay-provider" in exposed
        assert "x-patchbay-cost" in exposed and "x-patchbay-cache" in exposed
        # Errors, streams and pages not served by routes.yaml carry them too.
        status, got, _ = request(url, "GET", "/v1/models/nope/nothing", {"Origin": APP})
        assert status == 404 and got["Access-Control-Allow-Origin"] == APP
        status, got, _ = request(url, "GET", "/no/such/page", {"Origin": APP})
        assert status == 404 and got["Access-Control-Allow-Origin"] == APP
        stream = json.dumps({**json.loads(CHAT), "stream": True})
        status, got, _ = request(url, "POST", "/v1/chat/completions", headers, stream)
        assert status == 200 and got["Access-Control-Allow-Origin"] == APP


def test_other_origins_get_no_grant(tmp_path: Path) -> None:
    with gateway(write_config(tmp_path, PROVIDERS, server=server([APP]))) as url:
        evil = "https://evil.example.net"
        status, headers, body = preflight(url, evil)
        assert status == 403
        assert json.loads(body)["error"]["type"] == "permission_error"
        assert "Access-Control-Allow-Origin" not in headers
        status, headers, _ = request(url, "GET", "/v1/models", {"Origin": evil})
        assert status == 200 and "Access-Control-Allow-Origin" not in headers


def test_star_allows_any_origin_but_never_credentials(tmp_path: Path) -> None:
    with gateway(write_config(tmp_path, PROVIDERS, server=server(["*"]))) as url:
        status, headers, _ = preflight(url, "https://anywhere.example")
        assert status == 204
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in headers
        status, headers, _ = request(url, "GET", "/v1/models", {"Origin": "https://x.example"})
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in headers


def test_without_cors_origins_nothing_is_granted(tmp_path: Path) -> None:
    with gateway(write_config(tmp_path, PROVIDERS, server=server(None))) as url:
        status, headers, _ = preflight(url, APP)
        assert status == 405  # an OPTIONS like any other
        assert "Access-Control-Allow-Origin" not in headers


def test_origins_from_the_environment_and_live_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_config(tmp_path, PROVIDERS, server=server(None))
    monkeypatch.setenv("PATCHBAY_CORS_ORIGINS", f"https://other.example, {APP}")
    with gateway(cfg) as url:
        assert preflight(url, APP)[1]["Access-Control-Allow-Origin"] == APP
    monkeypatch.delenv("PATCHBAY_CORS_ORIGINS")
    with gateway(cfg) as url:
        assert preflight(url, APP)[0] == 405
        write_config(cfg, PROVIDERS, server=server([APP]))
        auth = {"Authorization": f"Bearer {ADMIN}"}
        assert request(url, "POST", "/admin/reload", auth)[0] == 200
        assert preflight(url, APP)[1]["Access-Control-Allow-Origin"] == APP
