"""Per-type listings declared as routes with fixed arguments (`with: {type: ...}`) in
the shipped routes.yaml, and `?type=` on /v1/models and /v1/providers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from engine.config import ConfigInvalid, load_config, read_sources
from engine.handlers import HANDLER_NAMES
from engine.providers import KINDS
from tests.harness import gateway, write_config

PROVIDERS = {
    "providers": {
        "echo": {
            "kind": "echo",
            "models": [
                "echo-1",
                {"id": "echo-tts", "type": "speech"},
                {"id": "echo-whisper", "type": "transcription"},
            ],
        },
        "pictures": {
            "kind": "echo",
            "models": [{"id": "painter", "type": "image"}, {"id": "voice", "type": "speech"}],
        },
    },
    "aliases": {"say": "echo/echo-tts"},
}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = write_config(tmp_path_factory.mktemp("listings") / "cfg", PROVIDERS)
    with gateway(directory) as url:
        yield url


def _ids(base_url: str, path: str) -> list[str]:
    answer = httpx.get(base_url + path)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["data"]]


def test_tts_models_lists_speech_models_and_their_aliases(base_url: str) -> None:
    assert _ids(base_url, "/v1/TTS/models") == ["echo/echo-tts", "pictures/voice", "say"]


def test_tti_models_lists_image_models(base_url: str) -> None:
    assert _ids(base_url, "/v1/TTI/models") == ["pictures/painter"]


def test_models_take_a_type_in_the_query(base_url: str) -> None:
    assert _ids(base_url, "/v1/models?type=transcription") == ["echo/echo-whisper"]
    assert _ids(base_url, "/v1/models?type=speech") == _ids(base_url, "/v1/TTS/models")
    assert len(_ids(base_url, "/v1/models")) == 6  # five models and the alias


def test_an_unknown_type_is_a_400(base_url: str) -> None:
    answer = httpx.get(base_url + "/v1/models?type=music")
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "type"


def test_provider_listings_show_only_that_type(base_url: str) -> None:
    speech = httpx.get(base_url + "/v1/TTS/providers").json()["data"]
    assert {p["name"]: p["models"] for p in speech} == {
        "echo": ["echo-tts"],
        "pictures": ["voice"],
    }
    images = httpx.get(base_url + "/v1/TTI/providers").json()["data"]
    assert {p["name"]: p["models"] for p in images} == {"pictures": ["painter"]}
    assert images[0]["health"] == {"painter": "ok"}


def test_the_shipped_routes_declare_the_listings() -> None:
    shipped = Path(__file__).resolve().parent.parent / "routes.yaml"
    text = shipped.read_text()
    for path, handler, kind in (
        ("/v1/TTS/models", "models.list", "speech"),
        ("/v1/TTS/providers", "providers.list", "speech"),
        ("/v1/TTI/models", "models.list", "image"),
        ("/v1/TTI/providers", "providers.list", "image"),
    ):
        assert f"{{path: {path}, handler: {handler}, with: {{type: {kind}}}}}" in text


def test_a_fixed_type_must_be_a_model_type(tmp_path: Path) -> None:
    routes = {"routes": [{"path": "/v1/x", "handler": "models.list", "with": {"type": "music"}}]}
    directory = write_config(tmp_path / "cfg", PROVIDERS, routes=routes)
    with pytest.raises(ConfigInvalid) as caught:
        load_config(read_sources(directory), handlers=HANDLER_NAMES, kinds=set(KINDS))
    [problem] = caught.value.problems
    assert "unknown model type 'music'" in str(problem)
    assert "routes.yaml:" in str(problem)
