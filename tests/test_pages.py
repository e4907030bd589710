"""The pages over real HTTP: landing page, status JSON, docs URLs, assets, and their 404s."""

from __future__ import annotations

import http.client
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from engine.http.pages import templates_dir
from tests.harness import free_port, gateway, write_config
from tests.pages_harness import (
    echo_providers,
    edit_yaml,
    fetch,
    fetch_json,
    wait_for,
)

STATUS = "/_patchbay/status"


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return write_config(tmp_path / "cfg", echo_providers())


@pytest.fixture
def url(config_dir: Path) -> Any:
    with gateway(config_dir) as base:
        yield base


def boot_data(html: bytes) -> dict[str, Any]:
    """The status JSON the landing page embeds for its first render."""
    found = re.search(
        rb'<script id="patchbay-boot" type="application/json">(.*?)</script>', html, re.S
    )
    assert found, "the landing page embeds its status"
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def raw_get(base: str, path: str) -> tuple[int, bytes]:
    """GET `path` exactly as written: no client-side normalisation of `..`."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def test_landing_page_embeds_the_live_status(url: str) -> None:
    status, headers, body = fetch(url + "/")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "x-request-id" in headers
    data = boot_data(body)
    assert data == fetch_json(url + STATUS) | {"config": data["config"]}
    assert b"<h1>Patchbay</h1>" in body
    assert b"https://" not in body, "no external asset or link on the landing page"


def test_status_lists_models_providers_routes_and_config(url: str) -> None:
    data = fetch_json(url + STATUS)
    ids = [m["id"] for m in data["models"]]
    assert ids == ["echo/echo-1", "echo/echo-embed", "parrot/parrot-1", "parrot/parrot-2", "quick"]
    assert ids == [m["id"] for m in fetch_json(url + "/v1/models")["data"]]
    quick = next(m for m in data["models"] if m["id"] == "quick")
    assert quick["alias"] == ["parrot/parrot-1", "echo/echo-1"]
    assert quick["type"] == "chat"
    states = {p["name"]: p["status"] for p in data["providers"]}
    assert states == {"echo": "active", "parrot": "active", "keyed": "missing_key"}
    assert data["config"]["hash"].startswith(fetch_json(url + "/ready")["config_hash"])
    assert data["config"]["last_error"] == []
    assert data["api"]["chat"] == "/v1/chat/completions"
    assert data["api"]["responses"] == "/v1/responses"
    assert {
        "path": "/v1/models",
        "methods": ["GET"],
        "handler": "models.list",
        "enabled": True,
    } in data["routes"]
    assert "never-1" not in json.dumps(data["models"])


def test_status_follows_edits_and_shows_the_rejected_one(url: str, config_dir: Path) -> None:
    before = fetch_json(url + STATUS)["config"]["hash"]
    edit_yaml(
        config_dir / "providers.yaml", lambda d: d["providers"]["parrot"].update(enabled=False)
    )
    wait_for(lambda: fetch_json(url + STATUS)["config"]["hash"] != before, what="the reload")
    data = fetch_json(url + STATUS)
    assert {p["name"]: p["status"] for p in data["providers"]}["parrot"] == "disabled"
    assert not [m for m in data["models"] if m["owned_by"] == "parrot"]

    good = data["config"]["hash"]
    (config_dir / "providers.yaml").write_text("providers: [this is not a mapping\n")
    wait_for(lambda: fetch_json(url + STATUS)["config"]["last_error"] != [], what="the rejection")
    data = fetch_json(url + STATUS)
    assert data["config"]["hash"] == good, "the last good config keeps serving"
    assert any(line.startswith("providers.yaml:") for line in data["config"]["last_error"])


def test_unknown_paths_and_methods_answer_openai_errors(url: str) -> None:
    status, headers, body = fetch(url + "/no/such/page")
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert "x-request-id" in headers
    error = json.loads(body)["error"]
    assert error["code"] == "not_found"
    assert set(error) == {"message", "type", "param", "code"}

    status, headers, body = fetch(url + "/docs", method="POST", body={})
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert json.loads(body)["error"]["code"] == "method_not_allowed"


def test_head_answers_without_a_body(url: str) -> None:
    status, _, body = fetch(url + "/", method="HEAD")
    assert status == 200
    assert body == b""


def test_assets_come_from_this_server_and_stay_inside_their_folders(url: str) -> None:
    for path, kind in (
        ("/_patchbay/static/landing.js", "javascript"),
        ("/_patchbay/static/patchbay.css", "text/css"),
        ("/_patchbay/swagger-ui/swagger-ui-bundle.js", "javascript"),
        ("/_patchbay/swagger-ui/swagger-ui.css", "text/css"),
    ):
        status, headers, body = fetch(url + path)
        assert status == 200, path
        assert kind in headers["content-type"], path
        assert body
    for path in (
        "/_patchbay/static/../../pyproject.toml",
        "/_patchbay/static/%2e%2e/%2e%2e/pyproject.toml",
        "/_patchbay/swagger-ui/../__init__.py",
        "/_patchbay/static/nothing.js",
        "/_patchbay/static/",
    ):
        status, body = raw_get(url, path)
        assert status == 404, path
        assert json.loads(body)["error"]["code"] == "not_found"


def test_docs_pages_load_their_assets_locally(url: str) -> None:
    status, _, body = fetch(url + "/docs")
    assert status == 200
    assert b'src="/_patchbay/swagger-ui/swagger-ui-bundle.js"' in body
    assert b'data-openapi-url="/openapi.json"' in body
    assert b"https://" not in body
    status, _, body = fetch(url + "/redoc")
    assert status == 200
    assert b"/v1/chat/completions" in body
    assert b"ChatCompletionRequest" in body or b"messages" in body


def test_base_url_prefixes_every_page(config_dir: Path) -> None:
    with gateway(config_dir, base_url="/api") as url:
        assert fetch(url + "/api/")[0] == 200
        assert fetch(url + "/api")[0] == 200
        for path in ("/api/docs", "/api/redoc", "/api/openapi.json", "/api" + STATUS):
            assert fetch(url + path)[0] == 200, path
        status, _, body = fetch(url + "/")
        assert status == 404
        assert "start with /api" in json.loads(body)["error"]["message"]
        data = fetch_json(url + "/api" + STATUS)
        assert data["api"]["chat"] == "/api/v1/chat/completions"
        assert data["api"]["urls"]["static"] == "/api/_patchbay/static/"
        _, _, html = fetch(url + "/api/")
        assert b'src="/api/_patchbay/static/landing.js"' in html
        assert fetch(url + "/api/_patchbay/static/landing.js")[0] == 200
        assert "/api/v1/models" in fetch_json(url + "/api/openapi.json")["paths"]


def test_docs_urls_and_titles_come_from_live_settings(config_dir: Path) -> None:
    server = config_dir / "config" / "server.yaml"
    with gateway(config_dir, environ={"PATCHBAY_API_TITLE": "Acme Gateway"}) as url:
        assert fetch_json(url + "/openapi.json")["info"]["title"] == "Acme Gateway"
        assert b"<title>Acme Gateway</title>" in fetch(url + "/")[2]
        edit_yaml(
            server,
            lambda d: d.update(api={"docs_url": "/swagger", "redoc_url": "", "version": "9.9"}),
        )
        wait_for(lambda: fetch(url + "/swagger")[0] == 200, what="the new docs URL")
        assert fetch(url + "/docs")[0] == 404
        assert fetch(url + "/redoc")[0] == 404, "an empty URL switches the page off"
        assert fetch_json(url + "/openapi.json")["info"]["version"] == "9.9"


def test_with_auth_on_the_page_does_not_show_error_details(tmp_path: Path) -> None:
    server = {"auth": {"required": True, "keys": [{"name": "ci", "key": "secret-key-1"}]}}
    config_dir = write_config(tmp_path / "cfg", echo_providers(), server=server)
    with gateway(config_dir) as url:
        assert fetch_json(url + STATUS)["api"]["auth_required"] is True
        (config_dir / "routes.yaml").write_text("routes: 12\n")
        wait_for(lambda: fetch_json(url + STATUS)["config"]["last_error"] != [], what="rejection")
        assert fetch_json(url + STATUS)["config"]["last_error"] == ["(see /admin/config)"]


def test_templates_are_found_in_the_source_tree() -> None:
    assert templates_dir() == Path(__file__).resolve().parent.parent / "templates"


def test_a_failing_provider_shows_its_cooldown(tmp_path: Path) -> None:
    providers = echo_providers()
    providers["defaults"] = {
        "provider": "echo",
        "retries": 0,
        "cooldown": {"failures": 1, "window": 60, "duration": 120},
    }
    providers["providers"]["down"] = {
        "kind": "openai",
        "base_url": f"http://127.0.0.1:{free_port()}/v1",  # nothing listens there
        "api_key": "k-1",
        "models": ["gone-1"],
    }
    with gateway(write_config(tmp_path / "cfg", providers)) as url:
        states = {p["name"]: p for p in fetch_json(url + STATUS)["providers"]}
        assert states["down"]["status"] == "active"
        body = {"model": "down/gone-1", "messages": [{"role": "user", "content": "hi"}]}
        assert fetch(url + "/v1/chat/completions", method="POST", body=body)[0] == 502
        states = {p["name"]: p for p in fetch_json(url + STATUS)["providers"]}
        assert states["down"]["status"] == "cooldown"
        assert states["down"]["health"]["gone-1"].startswith("cooling (")
        assert states["echo"]["status"] == "active"


def test_keys_never_reach_the_pages(tmp_path: Path) -> None:
    secret = "sk-page-test-secret-0123456789"
    config_dir = write_config(tmp_path / "cfg", echo_providers())
    with gateway(config_dir, environ={"PATCHBAY_TEST_UNSET_KEY": secret}) as url:
        data = fetch_json(url + STATUS)
        assert {p["name"]: p["status"] for p in data["providers"]}["keyed"] == "active"
        for path in ("/", STATUS, "/openapi.json", "/docs", "/redoc"):
            assert secret.encode() not in fetch(url + path)[2], path
