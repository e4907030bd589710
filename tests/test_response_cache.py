"""The response cache through the OpenAI SDK: hits without upstream calls, keys that
keep tenants and provider-specific parameters apart, streamed replays that fit OpenAI's
chunk schema, Cache-Control, complete answers only, live mode changes, free hits."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from quart import Quart

import tests.harness
from engine import create_app
from engine.runtime import Runtime
from engine.stores.memory import MemoryAnswers
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import gateway, write_config
from tests.openapi_schemas import validate
from tests.spend_harness import ADMIN, ALICE, BOB, priced_providers, send

CACHED_ALIAS = {"targets": [{"model": "up/gpt-test"}], "cache": {"ttl": 600}}
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}


def cache_providers(fake_url: str, cached: dict[str, Any] | None = None) -> dict[str, Any]:
    providers = priced_providers(
        fake_url,
        aliases={
            "cached": cached or CACHED_ALIAS,
            "together": {"targets": [{"model": "up/gpt-test"}], "cache": {"shared": True}},
        },
    )
    models = providers["providers"]["up"]["models"]
    for i, entry in enumerate(models):
        name = entry if isinstance(entry, str) else entry["id"]
        if name in ("midstream-error", "reject-400", "embed-test"):
            item = {"id": entry} if isinstance(entry, str) else entry
            models[i] = {**item, "cache": {"ttl": 60}}
    models.append({"id": "slow-stream", "cache": {"ttl": 60}})  # a pause after every chunk
    return providers


def server(**extra: Any) -> dict[str, Any]:
    keys = [{"name": "alice", "key": ALICE, **extra}, {"name": "bob", "key": BOB}]
    return {"auth": {"admin_key": ADMIN, "keys": keys}, "watch": {"enabled": False}}


@pytest.fixture
def runtimes(monkeypatch: pytest.MonkeyPatch) -> list[Runtime]:
    """The Runtime of every gateway the test starts."""
    made: list[Runtime] = []

    def create(*args: Any, **kwargs: Any) -> Quart:
        app = create_app(*args, **kwargs)
        made.append(app.config["PATCHBAY_RUNTIME"])
        return app

    monkeypatch.setattr(tests.harness, "create_app", create)
    return made


@pytest.fixture
def base(tmp_path: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", API_KEY)
    with gateway(write_config(tmp_path, cache_providers(fake_openai.url), server=server())) as url:
        yield url


def sdk(base: str, key: str = ALICE) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0, timeout=20)


def ask(
    client: openai.OpenAI, content: str = "hi there", model: str = "cached", **extra: Any
) -> Any:
    return client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": content}], **extra
    )


def calls(fake: FakeOpenAI, path: str = "/v1/chat/completions") -> int:
    return sum(1 for r in fake.requests if r.path == path)


def test_a_second_identical_request_is_a_hit_with_the_same_body_and_no_upstream_call(
    base: str, fake_openai: FakeOpenAI
) -> None:
    first = ask(sdk(base))
    assert first.headers["x-patchbay-cache"] == "MISS" and calls(fake_openai) == 1
    second = ask(sdk(base))
    assert second.headers["x-patchbay-cache"] == "HIT" and calls(fake_openai) == 1
    assert second.text == first.text  # byte for byte, `created` included
    assert int(second.headers["age"]) >= 0
    assert second.headers["x-patchbay-provider"] == "up"
    assert second.headers["x-patchbay-model"] == "gpt-test"
    assert second.headers["x-patchbay-attempts"] == "0"
    assert first.headers["x-patchbay-cost"] != "0" and second.headers["x-patchbay-cost"] == "0"
    assert "x-patchbay-cache" not in ask(sdk(base), model="up/gpt-test").headers  # not opted in
    metrics = send("GET", base + "/metrics")[2].decode()
    assert 'patchbay_response_cache_total{model="cached",result="HIT"} 1.0' in metrics
    assert 'patchbay_response_cache_total{model="cached",result="MISS"} 1.0' in metrics


def test_a_different_provider_specific_parameter_is_a_miss(
    base: str, fake_openai: FakeOpenAI
) -> None:
    assert ask(sdk(base), extra_body={"top_k": 5}).headers["x-patchbay-cache"] == "MISS"
    assert fake_openai.requests[-1].json()["top_k"] == 5
    assert ask(sdk(base), extra_body={"top_k": 6}).headers["x-patchbay-cache"] == "MISS"
    assert ask(sdk(base), extra_body={"top_k": 5}).headers["x-patchbay-cache"] == "HIT"
    assert ask(sdk(base), temperature=0.5).headers["x-patchbay-cache"] == "MISS"
    assert calls(fake_openai) == 3


def test_one_keys_answer_is_never_served_to_another(base: str, fake_openai: FakeOpenAI) -> None:
    assert ask(sdk(base, ALICE)).headers["x-patchbay-cache"] == "MISS"
    assert ask(sdk(base, BOB)).headers["x-patchbay-cache"] == "MISS"
    assert ask(sdk(base, BOB)).headers["x-patchbay-cache"] == "HIT"  # bob's own
    # Clients without a configured key are kept apart by the credential they send.
    assert ask(sdk(base, "sk-anonymous-1")).headers["x-patchbay-cache"] == "MISS"
    assert ask(sdk(base, "sk-anonymous-2")).headers["x-patchbay-cache"] == "MISS"
    assert calls(fake_openai) == 4
    # ... unless the alias declares its cache shared.
    assert ask(sdk(base, ALICE), model="together").headers["x-patchbay-cache"] == "MISS"
    assert ask(sdk(base, BOB), model="together").headers["x-patchbay-cache"] == "HIT"


def _chunks_validated(response: Any) -> list[Any]:
    chunks = list(response.parse())
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
    return chunks


def _text(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_a_kept_answer_is_replayed_to_a_stream_that_fits_the_chunk_schema(
    base: str, fake_openai: FakeOpenAI
) -> None:
    stored = json.loads(ask(sdk(base)).text)
    replayed = ask(sdk(base), stream=True, stream_options={"include_usage": True})
    assert replayed.headers["x-patchbay-cache"] == "HIT" and calls(fake_openai) == 1
    chunks = _chunks_validated(replayed)
    assert _text(chunks) == stored["choices"][0]["message"]["content"]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 12
    quiet = _chunks_validated(ask(sdk(base), stream=True))  # usage only when asked for
    assert all(c.usage is None for c in quiet)


def test_a_streamed_answer_is_kept_once_complete_and_served_as_json(
    base: str, fake_openai: FakeOpenAI
) -> None:
    streamed = ask(sdk(base), "stream me", stream=True)
    assert streamed.headers["x-patchbay-cache"] == "MISS"
    text = _text(_chunks_validated(streamed))
    again = ask(sdk(base), "stream me")
    assert again.headers["x-patchbay-cache"] == "HIT" and calls(fake_openai) == 1
    completion = json.loads(again.text)
    validate("CreateChatCompletionResponse", completion)
    assert completion["choices"][0]["message"]["content"] == text == "upstream says: stream me"
    assert completion["usage"]["total_tokens"] == 12  # asked for on the client's behalf


def test_a_stream_that_arrives_in_many_reads_is_kept_once_it_ends(
    base: str, fake_openai: FakeOpenAI
) -> None:
    streamed = ask(sdk(base), "one by one", model="up/slow-stream", stream=True)
    assert streamed.headers["x-patchbay-cache"] == "MISS"
    assert _text(_chunks_validated(streamed)) == "upstream says: one by one"
    again = ask(sdk(base), "one by one", model="up/slow-stream")
    assert again.headers["x-patchbay-cache"] == "HIT" and calls(fake_openai) == 1
    assert json.loads(again.text)["choices"][0]["message"]["content"] == "upstream says: one by one"


def test_no_cache_skips_the_read_no_store_the_write_and_max_age_bounds_a_hit(
    base: str, fake_openai: FakeOpenAI
) -> None:
    ask(sdk(base))
    fresh = ask(sdk(base), extra_headers={"Cache-Control": "no-cache"})
    assert fresh.headers["x-patchbay-cache"] == "BYPASS" and calls(fake_openai) == 2
    unkept = ask(sdk(base), "not kept", extra_headers={"Cache-Control": "no-store"})
    assert unkept.headers["x-patchbay-cache"] == "MISS"
    assert ask(sdk(base), "not kept").headers["x-patchbay-cache"] == "MISS"  # was not kept
    assert calls(fake_openai) == 4
    threading.Event().wait(1.1)  # the kept answers are now over a second old
    too_old = ask(sdk(base), extra_headers={"Cache-Control": "max-age=0"})
    assert too_old.headers["x-patchbay-cache"] == "MISS" and calls(fake_openai) == 5
    young = ask(sdk(base), "not kept", extra_headers={"Cache-Control": "max-age=3600"})
    assert young.headers["x-patchbay-cache"] == "HIT" and int(young.headers["age"]) >= 1


def test_only_complete_answers_are_kept(base: str, fake_openai: FakeOpenAI) -> None:
    for _ in range(2):  # a tool call ends in tool_calls: not kept
        assert ask(sdk(base), tools=[WEATHER_TOOL]).headers["x-patchbay-cache"] == "MISS"
    for _ in range(2):  # an upstream error is not kept
        with pytest.raises(openai.BadRequestError):
            ask(sdk(base), model="up/reject-400")
    for _ in range(2):  # nor a stream cut by an error event
        response = ask(sdk(base), model="up/midstream-error", stream=True)
        assert response.headers["x-patchbay-cache"] == "MISS"
        with pytest.raises(openai.APIError):
            list(response.parse())
    assert calls(fake_openai) == 6


def test_embeddings_are_kept_per_model(base: str, fake_openai: FakeOpenAI) -> None:
    client = sdk(base).embeddings.with_raw_response
    first = client.create(model="up/embed-test", input=["a", "b"])
    second = client.create(model="up/embed-test", input=["a", "b"])
    assert [first.headers["x-patchbay-cache"], second.headers["x-patchbay-cache"]] == [
        "MISS",
        "HIT",
    ]
    assert second.text == first.text and calls(fake_openai, "/v1/embeddings") == 1


def test_a_reload_that_changes_an_alias_cache_mode_applies_live(
    tmp_path: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", API_KEY)
    config = write_config(tmp_path, cache_providers(fake_openai.url), server=server())

    def mode(name: str) -> None:
        cached = {**CACHED_ALIAS, "cache": {"mode": name, "ttl": 600}}
        write_config(tmp_path, cache_providers(fake_openai.url, cached), server=server())
        status, _, raw = send("POST", url + "/admin/reload", {}, ADMIN)
        assert status == 200 and json.loads(raw)["outcome"] == "applied"

    with gateway(config) as url:
        ask(sdk(url))
        mode("off")
        assert "x-patchbay-cache" not in ask(sdk(url)).headers and calls(fake_openai) == 2
        mode("read_only")
        assert ask(sdk(url)).headers["x-patchbay-cache"] == "HIT"  # kept before
        assert ask(sdk(url), "new").headers["x-patchbay-cache"] == "MISS"
        assert ask(sdk(url), "new").headers["x-patchbay-cache"] == "MISS"  # not written
        mode("write_only")
        assert ask(sdk(url)).headers["x-patchbay-cache"] == "BYPASS"
        assert calls(fake_openai) == 5


def test_a_hit_costs_nothing_and_counts_no_tokens(
    tmp_path: Path,
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    runtimes: list[Runtime],
) -> None:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", API_KEY)
    config = write_config(tmp_path, cache_providers(fake_openai.url), server=server(tpm=20))
    with gateway(config) as url:
        frozen = runtimes[0].guard.limiter.clock()
        runtimes[0].guard.limiter.clock = lambda: frozen  # one minute throughout
        ask(sdk(url))  # 12 tokens of 20
        for _ in range(3):
            assert ask(sdk(url)).headers["x-patchbay-cache"] == "HIT"  # 0 tokens each
        assert ask(sdk(url), "another").headers["x-patchbay-cache"] == "MISS"  # 12 < 20: in
        with pytest.raises(openai.RateLimitError):
            ask(sdk(url), "a third")  # 24 tokens used


def test_two_instances_share_kept_answers_in_redis(
    tmp_path: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", API_KEY)
    shared = {**server(), "redis_url": redis_url}
    config = write_config(tmp_path, cache_providers(fake_openai.url), server=shared)
    with gateway(config) as one, gateway(config) as two:
        first = ask(sdk(one))
        second = ask(sdk(two))
        assert [first.headers["x-patchbay-cache"], second.headers["x-patchbay-cache"]] == [
            "MISS",
            "HIT",
        ]
        assert second.text == first.text and calls(fake_openai) == 1
        replayed = ask(sdk(two), stream=True)
        assert replayed.headers["x-patchbay-cache"] == "HIT"
        assert _text(_chunks_validated(replayed)) == "upstream says: hi there"


def test_memory_keeps_at_most_its_bytes_least_recently_used_out_first() -> None:
    answers = MemoryAnswers()
    answers.max_bytes, answers.max_entries = 800, 1000

    async def scenario() -> None:
        for name in "abcd":
            await answers.put(name, b"x" * 100, 60)
        assert await answers.get("a") is not None  # a is now the most recent
        for name in "efgh":
            await answers.put(name, b"x" * 100, 60)
        await answers.put("i", b"x" * 100, 60)  # 900 bytes: the least recent goes
        assert await answers.get("b") is None and await answers.get("a") is not None
        assert answers.size <= 800
        await answers.put("huge", b"x" * 101, 60)  # over an eighth of the bound: not kept
        assert await answers.get("huge") is None

    asyncio.run(scenario())


def test_a_bare_yaml_on_or_off_is_taken_as_meant(tmp_path: Path) -> None:
    write_config(tmp_path, {"providers": {"echo": {"kind": "echo", "models": ["echo-1"]}}})
    (tmp_path / "providers.yaml").write_text(
        "providers:\n"
        "  echo:\n"
        "    kind: echo\n"
        "    models: [{id: echo-1, cache: {mode: on}}, {id: echo-2, cache: {mode: off}}]\n"
        "aliases:\n"
        "  kept: {targets: [{model: echo/echo-1}], cache: {mode: read_only, ttl: 5}}\n"
    )
    plans = create_app(tmp_path).config["PATCHBAY_RUNTIME"].snapshot.plans
    assert plans["echo/echo-1"].cache is not None and plans["echo/echo-1"].cache.mode == "on"
    assert plans["echo/echo-2"].cache is None
    assert plans["kept"].cache is not None and plans["kept"].cache.mode == "read_only"
