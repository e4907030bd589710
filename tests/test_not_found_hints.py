"""404s that help: a model of another type, a provider that lacks its key or is switched
off, a path that misses /v1 or the base URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.harness import gateway, write_config
from tests.pages_harness import fetch

PROVIDERS = {
    "defaults": {"provider": "echo"},
    "providers": {
        "echo": {"kind": "echo", "models": ["echo-1", {"id": "echo-embed", "type": "embedding"}]},
        "openai": {
            "kind": "openai",
            "base_url": "https://api.openai.com/v1",
            "api_key": "${PATCHBAY_TEST_UNSET_KEY}",
            "models": ["gpt-4o-mini"],
        },
        "local": {
            "kind": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "enabled": False,
            "models": ["llama3.2"],
        },
    },
}


def error_of(url: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    status, _, raw = fetch(url + path, "GET" if body is None else "POST", body)
    return status, json.loads(raw)["error"]


def chat(model: str) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


def test_a_model_of_another_type_names_both_types_and_the_right_models(tmp_path: Path) -> None:
    with gateway(write_config(tmp_path, PROVIDERS)) as url:
        status, error = error_of(url, "/v1/embeddings", {"model": "echo/echo-1", "input": "x"})
        assert status == 404 and error["code"] == "model_not_found"
        assert error["message"] == (
            "'echo/echo-1' is a chat model; for embeddings, use an embedding model. "
            "Try one of: echo/echo-embed"
        )
        status, error = error_of(url, "/v1/chat/completions", chat("echo/echo-embed"))
        assert status == 404
        assert error["message"].startswith("'echo/echo-embed' is an embedding model;")
        assert error["message"].endswith("Try one of: echo/echo-1")


def test_a_model_whose_provider_lacks_its_key_names_the_variable(tmp_path: Path) -> None:
    with gateway(write_config(tmp_path, PROVIDERS), environ={}) as url:
        for name in ("openai/gpt-4o-mini", "gpt-4o-mini"):
            status, error = error_of(url, "/v1/chat/completions", chat(name))
            assert status == 404, name
            assert f"The model '{name}' is not served: provider 'openai' needs " in error["message"]
            assert "PATCHBAY_TEST_UNSET_KEY" in error["message"]
        status, error = error_of(url, "/v1/models/openai/gpt-4o-mini")
        assert status == 404 and "PATCHBAY_TEST_UNSET_KEY" in error["message"]
        status, error = error_of(url, "/v1/chat/completions", chat("local/llama3.2"))
        assert "provider 'local' is switched off (enabled: false" in error["message"]
        status, error = error_of(url, "/v1/chat/completions", chat("nothing/at-all"))
        assert error["message"].startswith("The model 'nothing/at-all' does not exist")


def test_providers_list_and_landing_status_name_the_missing_variable(tmp_path: Path) -> None:
    with gateway(write_config(tmp_path, PROVIDERS), environ={}) as url:
        _, _, raw = fetch(url + "/v1/providers")
        listed = {p["name"]: p for p in json.loads(raw)["data"]}
        assert listed["openai"]["status"] == "missing_key"
        assert listed["openai"]["needs"] == ["PATCHBAY_TEST_UNSET_KEY"]
        assert "needs" not in listed["echo"] and "needs" not in listed["local"]
        _, _, raw = fetch(url + "/_patchbay/status")
        cards = {p["name"]: p for p in json.loads(raw)["providers"]}
        assert cards["openai"]["needs"] == ["PATCHBAY_TEST_UNSET_KEY"]


def test_a_path_without_v1_or_the_base_url_gets_the_path_it_meant(tmp_path: Path) -> None:
    with gateway(write_config(tmp_path, PROVIDERS)) as url:
        status, error = error_of(url, "/chat/completions", chat("auto"))
        assert status == 404
        assert error["message"] == (
            "No route matches /chat/completions. Did you mean /v1/chat/completions?"
        )
        _, error = error_of(url, "/models/echo/echo-1")
        assert error["message"].endswith("Did you mean /v1/models/echo/echo-1?")
        _, error = error_of(url, "/v1/chat/completion", chat("auto"))
        assert error["message"].endswith("Did you mean /v1/chat/completions?")
        _, error = error_of(url, "/nothing/like/it")
        assert error["message"] == "No route matches /nothing/like/it."
    with gateway(write_config(tmp_path, PROVIDERS), base_url="/api") as url:
        _, error = error_of(url, "/v1/chat/completions", chat("auto"))
        assert error["message"].endswith("Did you mean /api/v1/chat/completions?")
        _, error = error_of(url, "/api/chat/completions", chat("auto"))
        assert error["message"].endswith("Did you mean /api/v1/chat/completions?")
