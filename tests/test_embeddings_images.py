"""Embeddings and image generation through the OpenAI SDK; model discovery."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from pathlib import Path

import openai
import pytest

from tests.fakes.openai_server import API_KEY, PNG, FakeOpenAI
from tests.harness import gateway, write_config
from tests.openapi_schemas import validate
from tests.test_chat import post


def test_embeddings_string_and_list(client: openai.OpenAI, fake_openai: FakeOpenAI) -> None:
    one = client.embeddings.create(model="up/embed-test", input="hello", dimensions=3)
    assert len(one.data) == 1 and len(one.data[0].embedding) == 3
    many = client.embeddings.with_raw_response.create(
        model="up/embed-test", input=["a", "b"], encoding_format="float"
    )
    validate("CreateEmbeddingResponse", json.loads(many.content))
    assert [d.index for d in many.parse().data] == [0, 1]
    sent = fake_openai.requests[-1].json()
    assert sent == {"model": "embed-test", "input": ["a", "b"], "encoding_format": "float"}


def test_embeddings_offline_from_echo(client: openai.OpenAI, gateway_url: str) -> None:
    status, _, body = post(gateway_url + "/v1/embeddings", b'{"model": "up/embed-test"}')
    assert status == 400 and json.loads(body)["error"]["param"] == "input"
    for shapeless in ("[]", "{}", "[null]"):
        raw = b'{"model": "up/embed-test", "input": %s}' % shapeless.encode()
        status, _, body = post(gateway_url + "/v1/embeddings", raw)
        assert status == 400 and json.loads(body)["error"] == {
            "message": "Invalid value for 'input': must be a string, or an array of 1 to 2048 "
            "strings, tokens or token arrays (of at most 8192 tokens each).",
            "type": "invalid_request_error",
            "param": "input",
            "code": None,
        }
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="up/gpt-test", input="a chat model is not an embedder")


def test_images_url_and_b64(client: openai.OpenAI) -> None:
    urls = client.images.with_raw_response.generate(model="up/img-test", prompt="a cat", n=2)
    validate("ImagesResponse", json.loads(urls.content))
    assert all(d.url and d.url.endswith("/files/image.png") for d in urls.parse().data)
    b64 = client.images.generate(model="up/img-test", prompt="a cat", response_format="b64_json")
    assert base64.b64decode(b64.data[0].b64_json or "") == PNG


def test_b64_from_a_url_only_upstream_refuses_private_addresses(client: openai.OpenAI) -> None:
    # The fake hands out loopback URLs; `up` is not declared local, so they are refused.
    with pytest.raises(openai.InternalServerError) as caught:
        client.images.generate(model="up/url-only", prompt="a cat", response_format="b64_json")
    assert "non-public" in str(caught.value)


def test_b64_from_a_url_only_local_upstream_is_fetched(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    providers = {
        "providers": {
            "studio": {
                "kind": "openai",
                "base_url": fake_openai.url,
                "local": True,
                "models": [{"id": "url-only", "type": "image"}],
            }
        }
    }
    with gateway(write_config(tmp_path / "cfg", providers)) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        for prompt in ("a cat", "redirect"):  # the second follows a redirect, re-checked
            image = client.images.generate(
                model="studio/url-only", prompt=prompt, response_format="b64_json"
            )
            assert base64.b64decode(image.data[0].b64_json or "") == PNG
            assert image.data[0].url is None


def test_image_size_is_validated(gateway_url: str) -> None:
    status, _, body = post(
        gateway_url + "/v1/images/generations",
        b'{"model": "up/img-test", "prompt": "x", "size": "big"}',
    )
    assert status == 400 and json.loads(body)["error"]["param"] == "size"


def test_models_discover_lists_upstream_models(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    providers = {
        "providers": {
            "disco": {
                "kind": "openai",
                "base_url": fake_openai.url,
                "api_key": API_KEY,
                "models": "discover",
            }
        }
    }
    with gateway(write_config(tmp_path / "cfg", providers)) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        deadline = time.monotonic() + 10
        ids: list[str] = []
        while time.monotonic() < deadline and "disco/gpt-test" not in ids:
            ids = [m.id for m in client.models.list()]
            time.sleep(0.05)
        assert "disco/gpt-test" in ids
        reply = client.chat.completions.create(
            model="disco/gpt-test", messages=[{"role": "user", "content": "hi"}]
        )
        assert reply.choices[0].message.content == "upstream says: hi"


def test_failing_discovery_is_visible_in_providers(tmp_path: Path) -> None:
    providers = {
        "providers": {
            "dark": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "models": "discover"}
        }
    }
    with gateway(write_config(tmp_path / "cfg", providers)) as url:
        deadline = time.monotonic() + 10
        entry: dict[str, object] = {}
        while time.monotonic() < deadline and not entry.get("discovery_error"):
            with urllib.request.urlopen(url + "/v1/providers", timeout=5) as resp:
                entry = json.loads(resp.read())["data"][0]
            time.sleep(0.05)
        assert "could not be reached" in str(entry["discovery_error"])
        assert entry["models"] == []


def test_no_active_model_of_the_kind_asked_for_says_so(tmp_path: Path) -> None:
    providers = {"providers": {"echo": {"kind": "echo", "models": ["echo-1"]}}}
    with gateway(write_config(tmp_path, providers)) as url:
        body = json.dumps({"model": "echo/echo-1", "prompt": "a lighthouse"}).encode()
        status, _, raw = post(url + "/v1/images/generations", body)
    assert status == 404
    message = json.loads(raw)["error"]["message"]
    assert message == (
        "'echo/echo-1' is a chat model; for image generation, use an image model. "
        "No image model is active."
    )


def test_echo_embeds_as_floats_or_base64_and_bounds_dimensions(tmp_path: Path) -> None:
    embedder = {"id": "echo-embed", "type": "embedding"}
    providers = {"providers": {"echo": {"kind": "echo", "models": [embedder]}}}
    with gateway(write_config(tmp_path, providers)) as url:
        client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        floats = client.embeddings.create(
            model="echo/echo-embed", input="hi", encoding_format="float"
        )
        # Without encoding_format the SDK asks for base64 and decodes the float32s.
        decoded = client.embeddings.create(model="echo/echo-embed", input="hi")
        assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding, abs=1e-6)
        body = {"model": "echo/echo-embed", "input": "hi", "encoding_format": "base64"}
        status, _, raw = post(url + "/v1/embeddings", json.dumps(body).encode())
        encoded = json.loads(raw)["data"][0]["embedding"]
        assert status == 200 and isinstance(encoded, str)
        assert len(base64.b64decode(encoded)) == 4 * len(floats.data[0].embedding)
        body = {"model": "echo/echo-embed", "input": "hi", "dimensions": 10**9}
        status, _, raw = post(url + "/v1/embeddings", json.dumps(body).encode())
        assert status == 400 and json.loads(raw)["error"]["param"] == "dimensions"
