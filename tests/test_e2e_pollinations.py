"""The keyless `pollinations` kind through the gateway, with the official OpenAI SDK."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.fakes.pollinations_server import FakePollinations
from tests.harness import gateway
from tests.openapi_schemas import validate

CONFIG = Path(__file__).parent / "configs" / "kind-pollinations"


@pytest.fixture
def fake() -> Iterator[FakePollinations]:
    with FakePollinations().in_thread() as server:
        yield server


@pytest.fixture
def client(
    fake: FakePollinations, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[openai.OpenAI]:
    monkeypatch.setenv("FAKE_POLLINATIONS_URL", fake.url)
    shutil.copytree(CONFIG, tmp_path / "cfg")
    with gateway(tmp_path / "cfg") as url:
        yield openai.OpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0, timeout=20)


@pytest.fixture
def image_client(
    fake: FakePollinations, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[openai.OpenAI]:
    """The same gateway, with images fetched from the fake too."""
    monkeypatch.setenv("FAKE_POLLINATIONS_URL", fake.url)
    shutil.copytree(CONFIG, tmp_path / "cfg")
    providers = tmp_path / "cfg" / "providers.yaml"
    base = "    base_url: ${FAKE_POLLINATIONS_URL}\n"
    providers.write_text(
        providers.read_text().replace(base, base + "    image_base_url: ${FAKE_POLLINATIONS_URL}\n")
    )
    with gateway(tmp_path / "cfg") as url:
        yield openai.OpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0, timeout=20)


def test_keyless_provider_is_listed(client: openai.OpenAI) -> None:
    ids = {model.id for model in client.models.list()}
    assert {"pollinations/openai", "pollinations/mistral"} <= ids


def test_chat_is_relayed(client: openai.OpenAI, fake: FakePollinations) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="pollinations/openai", messages=[{"role": "user", "content": "hello"}]
    )
    assert raw.headers["x-patchbay-provider"] == "pollinations"
    validate("CreateChatCompletionResponse", json.loads(raw.text))
    assert raw.parse().choices[0].message.content == "Pollinations says: hello"
    sent = fake.requests[-1]
    assert (sent.path, sent.json()["model"]) == ("/openai", "openai")
    assert "Authorization" not in sent.headers


def test_chat_stream_is_relayed(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="pollinations/mistral",
            messages=[{"role": "user", "content": "stream"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Pollinations says: stream"
    assert chunks[-1].usage is not None


def test_mid_stream_failure_reaches_the_sdk(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="pollinations/midstream-error",
        messages=[{"role": "user", "content": "x"}],
        stream=True,
    )
    with pytest.raises(openai.APIError, match="model crashed"):
        for _chunk in stream:
            pass


def test_images_as_b64_json_fit_openais_schema(
    image_client: openai.OpenAI, fake: FakePollinations
) -> None:
    raw = image_client.images.with_raw_response.generate(
        model="pollinations/flux",
        prompt="a lighthouse at dusk",
        n=2,
        size="512x512",
        response_format="b64_json",
        extra_body={"enhance": True},
    )
    answer = json.loads(raw.text)
    validate("ImagesResponse", answer)
    images = [base64.b64decode(item["b64_json"]) for item in answer["data"]]
    assert len(images) == 2 and images[0] != images[1]
    assert all(image.startswith(b"\x89PNG") for image in images)
    fetched = [r for r in fake.requests if r.path.startswith("/prompt/")]
    assert {r.path for r in fetched} == {"/prompt/a lighthouse at dusk"}
    assert {(r.query["width"], r.query["height"], r.query["enhance"]) for r in fetched} == {
        ("512", "512", "true")
    }


def test_images_as_urls_point_at_the_image_service(
    image_client: openai.OpenAI, fake: FakePollinations
) -> None:
    answer = image_client.images.generate(
        model="pollinations/flux", prompt="a fox", response_format="url"
    )
    [image] = answer.data
    assert image.url is not None and image.url.startswith(fake.url + "/prompt/a%20fox?")


def test_malformed_size_is_a_400_naming_size(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(
            model="pollinations/flux",
            prompt="x",
            size="wide",  # type: ignore[arg-type]
        )
    assert caught.value.param == "size"  # type: ignore[attr-defined]
