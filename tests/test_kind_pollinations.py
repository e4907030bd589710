"""The `pollinations` kind against a fake Pollinations on a real loopback socket."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from engine.errors import InvalidRequest, UpstreamFailed, UpstreamRejected
from engine.formats.sse import payloads
from engine.providers.base import Call, Model, Provider
from engine.providers.pollinations import Pollinations, image_url, parse_size
from engine.upstream.client import Upstream
from tests.fakes.pollinations_server import FakePollinations, png

pytestmark = pytest.mark.anyio


@pytest.fixture
async def fake() -> AsyncIterator[FakePollinations]:
    async with FakePollinations() as server:
        yield server


def pollinations(url: str, key: str | None = None) -> Pollinations:
    provider = Provider(
        name="pollinations",
        kind="pollinations",
        status="active",
        base_url=url,
        api_key=key,
        timeout=10,
        models={"openai": Model("openai"), "flux": Model("flux", "image")},
        options={"image_base_url": url},
    )
    return Pollinations(provider)


def call_for(kind: Pollinations, upstream: Upstream, body: dict[str, Any], model: str) -> Call:
    return Call(upstream, kind.provider, Model(model), body)


async def images(kind: Pollinations, upstream: Upstream, body: dict[str, Any]) -> Any:
    return orjson.loads(await kind.images(call_for(kind, upstream, body, "flux")))


def test_size_parsing() -> None:
    assert parse_size("512x768") == (512, 768)
    assert parse_size(None) == parse_size("auto") == (1024, 1024)
    for bad in ("big", "0x10", "10x", 512, "1024*1024"):
        with pytest.raises(InvalidRequest) as caught:
            parse_size(bad)
        assert caught.value.param == "size"


def test_prompt_is_one_escaped_path_segment() -> None:
    url = image_url("http://h/", "a cat/dog? 100%", {"width": "1", "seed": "2"})
    assert url == "http://h/prompt/a%20cat%2Fdog%3F%20100%25?width=1&seed=2"


async def test_chat_is_relayed_to_the_openai_endpoint(
    fake: FakePollinations, upstream: Upstream
) -> None:
    kind = pollinations(fake.url)
    body = {"model": "pollinations/openai", "messages": [{"role": "user", "content": "hi"}]}
    completion = orjson.loads(await kind.chat(call_for(kind, upstream, body, "openai")))
    assert completion["choices"][0]["message"]["content"] == "Pollinations says: hi"
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/openai")
    assert sent.json()["model"] == "openai"
    assert "Authorization" not in sent.headers
    assert body["model"] == "pollinations/openai"


async def test_chat_stream_yields_chunks_then_done(
    fake: FakePollinations, upstream: Upstream
) -> None:
    kind = pollinations(fake.url)
    body = {
        "messages": [{"role": "user", "content": "stream it"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    framed = [
        item async for item in await kind.chat_stream(call_for(kind, upstream, body, "openai"))
    ]
    assert framed[-1].endswith(b"data: [DONE]\n\n")
    chunks = [orjson.loads(p) for item in framed for p in payloads(item) if p != b"[DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Pollinations says: stream it"
    assert chunks[-1]["usage"]["completion_tokens"] == 4


async def test_chat_errors(fake: FakePollinations, upstream: Upstream) -> None:
    kind = pollinations(fake.url)
    body = {"messages": [{"role": "user", "content": "x"}]}
    with pytest.raises(UpstreamRejected) as caught:
        await kind.chat(call_for(kind, upstream, body, "no-such-model"))
    assert caught.value.status == 404
    assert "no-such-model" in caught.value.message
    stream = await kind.chat_stream(
        call_for(kind, upstream, {**body, "stream": True}, "midstream-error")
    )
    with pytest.raises(UpstreamFailed, match="model crashed"):
        async for _chunk in stream:
            pass


async def test_b64_images_carry_the_fetched_bytes(
    fake: FakePollinations, upstream: Upstream
) -> None:
    kind = pollinations(fake.url)
    body = {"prompt": "a red fox", "size": "512x256", "response_format": "b64_json", "seed": 40}
    answer = await images(kind, upstream, body)
    assert isinstance(answer["created"], int)
    assert [base64.b64decode(d["b64_json"]) for d in answer["data"]] == [png(40)]
    sent = fake.requests[-1]
    assert sent.path == "/prompt/a red fox"
    assert sent.query == {
        "width": "512",
        "height": "256",
        "model": "flux",
        "nologo": "true",
        "seed": "40",
    }


async def test_n_images_use_distinct_seeds_and_extras_pass_through(
    fake: FakePollinations, upstream: Upstream
) -> None:
    kind = pollinations(fake.url, key="pk-secret-token")
    body = {
        "prompt": "lighthouse",
        "n": 3,
        "response_format": "url",
        "enhance": True,
        "nologo": False,
        "private": "yes",
        "style": "vivid",
        "metadata": {"not": "a scalar"},
    }
    answer = await images(kind, upstream, body)
    urls = [d["url"] for d in answer["data"]]
    assert len(urls) == 3
    assert all("pk-secret-token" not in url for url in urls)
    queries = [parse_qs(urlsplit(url).query) for url in urls]
    assert len({q["seed"][0] for q in queries}) == 3
    assert queries[0]["enhance"] == ["true"]
    assert queries[0]["nologo"] == ["false"]
    assert queries[0]["private"] == ["yes"]
    assert "style" not in queries[0] and "metadata" not in queries[0]
    # Each URL was fetched once, with the token in a header rather than the URL.
    fetched = {r.query["seed"]: r for r in fake.requests}
    assert sorted(fetched) == sorted(q["seed"][0] for q in queries)
    assert all(r.headers["Authorization"] == "Bearer pk-secret-token" for r in fetched.values())


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": "x", "size": "huge"}, "size"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x", "n": 0}, "n"),
        ({"prompt": "x", "response_format": "png"}, "response_format"),
    ],
)
async def test_image_request_mistakes_are_400(
    fake: FakePollinations, upstream: Upstream, body: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await images(pollinations(fake.url), upstream, body)
    assert caught.value.param == param
    assert fake.requests == []


async def test_image_upstream_failures(fake: FakePollinations, upstream: Upstream) -> None:
    kind = pollinations(fake.url)
    with pytest.raises(UpstreamFailed, match="Image generation failed"):
        await images(kind, upstream, {"prompt": "fail"})
    with pytest.raises(UpstreamFailed, match="instead of an image"):
        await images(kind, upstream, {"prompt": "textual"})
