"""/openapi.json: valid OpenAPI 3.1, built from the live routes, and true to the server.

The schemathesis run sends generated requests (valid and invalid) to every operation of
a live gateway and checks each answer against the document: no 5xx, no undocumented
status or content type, no body that breaks its schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import negative_data_rejection

from engine.app import create_app
from engine.handlers import HANDLER_NAMES
from engine.handlers.schemas import CHAT_REQUEST
from engine.site.openapi import OPERATIONS, openapi_document
from engine.site.response_schemas import SCHEMAS
from engine.snapshot.model import Snapshot
from tests.harness import gateway, write_config
from tests.pages_harness import (
    SHIPPED,
    echo_providers,
    edit_yaml,
    fetch_json,
    wait_for,
)


def snapshot_of(config_dir: Path, **kwargs: Any) -> Snapshot:
    runtime = create_app(config_dir, **kwargs).config["PATCHBAY_RUNTIME"]
    return runtime.snapshot  # type: ignore[no-any-return]


def test_shipped_config_gives_a_valid_openapi_31_document() -> None:
    document = openapi_document(snapshot_of(SHIPPED, environ={}))
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {
        "title": "Patchbay",
        "description": document["info"]["description"],
        "version": document["info"]["version"],
    }
    chat = document["paths"]["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ChatCompletionRequest"
    }
    assert "text/event-stream" in chat["responses"]["200"]["content"]
    assert "/v1/models/{model}" in document["paths"]


def test_request_schemas_are_the_ones_the_gateway_validates_with(tmp_path: Path) -> None:
    assert SCHEMAS["ChatCompletionRequest"] is CHAT_REQUEST
    config_dir = write_config(tmp_path / "cfg", echo_providers())
    document = openapi_document(snapshot_of(config_dir))
    body = document["paths"]["/v1/chat/completions"]["post"]["requestBody"]
    assert body["content"]["application/json"]["example"] == {
        "model": "echo/echo-1",
        "messages": [{"role": "user", "content": "Hello!"}],
    }
    documented = document["components"]["schemas"]
    chat = documented["ChatCompletionRequest"]
    # The document adds the served model ids as examples, and nothing else.
    assert chat["properties"]["model"].pop("examples") == [
        "echo/echo-1",
        "parrot/parrot-1",
        "parrot/parrot-2",
        "quick",
    ]
    assert chat == CHAT_REQUEST
    assert documented["EmbeddingsRequest"]["properties"]["model"]["examples"] == ["echo/echo-embed"]
    assert "examples" not in documented["ImagesRequest"]["properties"]["model"]


def test_every_handler_is_documented() -> None:
    missing = sorted(HANDLER_NAMES - OPERATIONS.keys())
    assert not missing, f"add an Operation for {missing} to engine/site/openapi.py OPERATIONS"


def test_settings_shape_info_prefix_and_security(tmp_path: Path) -> None:
    server = {
        "base_url": "/api",
        "api": {"title": "Acme", "description": "Acme's models", "version": "2.0"},
        "auth": {"required": True, "keys": [{"name": "ci", "key": "k-123456"}]},
    }
    config_dir = write_config(tmp_path / "cfg", echo_providers(), server=server)
    document = openapi_document(snapshot_of(config_dir, environ={"PATCHBAY_API_VERSION": "2.1"}))
    validate(document)
    assert document["info"] == {"title": "Acme", "description": "Acme's models", "version": "2.1"}
    assert all(path.startswith("/api/") for path in document["paths"])
    assert document["security"] == [{"bearer": []}, {"apiKey": []}]


def test_disabled_routes_vanish_after_reload(tmp_path: Path) -> None:
    config_dir = write_config(tmp_path / "cfg", echo_providers())

    def switch_off_providers(routes: dict[str, Any]) -> None:
        for route in routes["routes"]:
            if route["handler"] == "providers.list":
                route["enabled"] = False

    with gateway(config_dir) as url:
        assert "/v1/providers" in fetch_json(url + "/openapi.json")["paths"]
        edit_yaml(config_dir / "routes.yaml", switch_off_providers)
        wait_for(
            lambda: "/v1/providers" not in fetch_json(url + "/openapi.json")["paths"],
            what="the route to leave the docs",
        )
        document = fetch_json(url + "/openapi.json")
        validate(document)
        assert "ProviderList" not in document["components"]["schemas"]
        assert "/v1/models" in document["paths"]


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = {
        "request_logging": False,
        "max_request_size": 65536,
        "auth": {"admin_key": "admin-secret-1"},
    }
    config_dir = write_config(
        tmp_path_factory.mktemp("st") / "cfg", echo_providers(), server=server
    )
    with gateway(config_dir) as url:
        yield url


@pytest.fixture(scope="module")
def live_schema(live_url: str) -> Any:
    return schemathesis.openapi.from_url(live_url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("live_schema")


@pytest.mark.timeout(240)
@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_server_keeps_the_documents_promises(case: schemathesis.Case, live_url: str) -> None:
    response = case.call(base_url=live_url, timeout=10)
    # A body past max_request_size is refused before it is read (413): a rejection too.
    excluded = [negative_data_rejection] if response.status_code == 413 else []
    case.validate_response(response, excluded_checks=excluded)
