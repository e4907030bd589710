"""Stored responses: `store: true`, `previous_response_id`, GET and DELETE, in this worker's
memory and in a real redis-server; a key reads only its own; a conversation stays on the
provider it began with."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import openapi_spec_validator
import pytest

from engine.app import create_app
from engine.site.openapi import openapi_document
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI
from tests.harness import free_port, write_config
from tests.openapi_schemas import validate
from tests.responses_checks import check_response, check_stream, parse_stream
from tests.responses_harness import call, responses_gateway, sdk

Fakes = tuple[FakeOpenAI, FakeAnthropic]


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with FakeOpenAI(("gpt-test",)).in_thread() as up, FakeAnthropic().in_thread() as claude:
        yield up, claude


def store_settings(request: pytest.FixtureRequest, backend: str) -> dict[str, Any]:
    """server.yaml for `backend`; redis gets a redis-server of its own."""
    if backend == "redis":
        return {
            "redis_url": request.getfixturevalue("redis_url"),
            "responses_store": {"backend": "redis"},
        }
    return {"responses_store": {"backend": "memory"}}


def chat_sent(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return fake.requests[-1].json()["messages"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_store_continue_get_and_delete(
    backend: str, fakes: Fakes, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    up, claude = fakes
    with responses_gateway(
        tmp_path / "cfg", up.url, claude.url, store_settings(request, backend)
    ) as url:
        client = sdk(url)
        first = client.responses.create(model="up/gpt-test", input="My name is Ada", store=True)
        assert first.store is True
        second = client.responses.create(
            model="up/gpt-test", input="What is my name?", previous_response_id=first.id
        )
        assert second.previous_response_id == first.id and second.store is False
        assert chat_sent(up) == [
            {"role": "user", "content": "My name is Ada"},
            {"role": "assistant", "content": "upstream says: My name is Ada"},
            {"role": "user", "content": "What is my name?"},
        ]
        status, _, body = call(f"{url}/v1/responses/{first.id}", b"", method="GET")
        assert status == 200
        check_response(json.loads(body))
        assert json.loads(body)["output"] == first.model_dump(exclude_unset=True)["output"]
        with pytest.raises(
            openai.BadRequestError, match="not found"
        ):  # not stored: store was false
            client.responses.create(model="up/gpt-test", input="x", previous_response_id=second.id)
        status, _, body = call(f"{url}/v1/responses/{first.id}", b"", method="DELETE")
        assert (status, json.loads(body)) == (
            200,
            {"id": first.id, "object": "response", "deleted": True},
        )
        status, _, body = call(f"{url}/v1/responses/{first.id}", b"", method="GET")
        assert status == 404
        validate("ErrorResponse", json.loads(body))
        with pytest.raises(openai.BadRequestError) as caught:
            client.responses.create(model="up/gpt-test", input="x", previous_response_id=first.id)
        assert caught.value.code == "previous_response_not_found"


def test_redis_store_is_shared_by_every_instance(
    fakes: Fakes, tmp_path: Path, redis_url: str
) -> None:
    up, claude = fakes
    server = {"redis_url": redis_url, "responses_store": {"backend": "redis", "ttl": 60}}
    with (
        responses_gateway(tmp_path / "a", up.url, claude.url, server) as one,
        responses_gateway(tmp_path / "b", up.url, claude.url, server) as other,
    ):
        first = sdk(one).responses.create(model="claude/claude-test", input="Hi", store=True)
        second = sdk(other).responses.create(
            model="claude/claude-test", input="Again", previous_response_id=first.id
        )
        assert second.output_text == "Hello! You said: Again"
        sent = claude.requests[-1].json()["messages"]
        assert [m["role"] for m in sent] == ["user", "assistant", "user"]
        assert sdk(other).responses.retrieve(first.id).output_text == "Hello! You said: Hi"


def test_a_streamed_answer_is_stored_before_it_is_complete(fakes: Fakes, tmp_path: Path) -> None:
    up, claude = fakes
    server = {"responses_store": {"backend": "memory"}}
    with responses_gateway(tmp_path / "cfg", up.url, claude.url, server) as url:
        body = {"model": "echo/echo-1", "input": "one two", "store": True, "stream": True}
        status, _, raw = call(url + "/v1/responses", body)
        final = check_stream(parse_stream(raw))
        assert status == 200 and final["store"] is True
        later = sdk(url).responses.create(
            model="echo/echo-1", input="three", previous_response_id=final["id"]
        )
        assert later.output_text == "three"
        assert sdk(url).responses.retrieve(final["id"]).output_text == "one two"


def test_a_continued_conversation_stays_with_its_provider(fakes: Fakes, tmp_path: Path) -> None:
    up, claude = fakes
    alias = {
        "strategy": "round_robin",
        "targets": [{"model": "up/gpt-test"}, {"model": "echo/echo-1"}],
    }
    server = {"responses_store": {"backend": "memory"}}
    with responses_gateway(
        tmp_path / "cfg", up.url, claude.url, server, aliases={"rr": alias}
    ) as url:
        client = sdk(url)
        raw = client.responses.with_raw_response.create(model="rr", input="start", store=True)
        provider, previous = raw.headers["x-patchbay-provider"], raw.parse().id
        for turn in range(4):
            raw = client.responses.with_raw_response.create(
                model="rr", input=f"turn {turn}", store=True, previous_response_id=previous
            )
            assert raw.headers["x-patchbay-provider"] == provider
            previous = raw.parse().id
        fresh = {
            client.responses.with_raw_response.create(model="rr", input="x").headers[
                "x-patchbay-provider"
            ]
            for _ in range(2)
        }
        assert fresh == {"up", "echo"}  # without a previous response, round robin as ever


def test_a_key_reads_only_its_own_responses(fakes: Fakes, tmp_path: Path) -> None:
    up, claude = fakes
    keys = [{"name": "alice", "key": "alice-secret-1"}, {"name": "bob", "key": "bob-secret-1"}]
    server = {"auth": {"required": True, "keys": keys}, "responses_store": {"backend": "memory"}}
    with responses_gateway(tmp_path / "cfg", up.url, claude.url, server) as url:
        alice, bob = sdk(url, "alice-secret-1"), sdk(url, "bob-secret-1")
        kept = alice.responses.create(model="echo/echo-1", input="secret plans", store=True)
        with pytest.raises(openai.NotFoundError):
            bob.responses.retrieve(kept.id)
        with pytest.raises(openai.BadRequestError):
            bob.responses.create(model="echo/echo-1", input="x", previous_response_id=kept.id)
        with pytest.raises(openai.NotFoundError):
            bob.responses.delete(kept.id)
        assert alice.responses.retrieve(kept.id).output_text == "secret plans"


def test_a_native_provider_gets_the_stored_conversation_spelled_out(
    fakes: Fakes, tmp_path: Path
) -> None:
    up, claude = fakes
    server = {"responses_store": {"backend": "memory"}}
    with responses_gateway(tmp_path / "cfg", up.url, claude.url, server) as url:
        client = sdk(url)
        first = client.responses.create(model="native/gpt-test", input="Hi", store=True)
        client.responses.create(
            model="native/gpt-test", input="More", previous_response_id=first.id
        )
        sent = up.requests[-1].json()
        assert "previous_response_id" not in sent and sent["store"] is False
        assert sent["input"][0] == {"type": "message", "role": "user", "content": "Hi"}
        assert sent["input"][1]["id"] == first.output[0].id  # the stored output, as input
        assert sent["input"][2] == {"type": "message", "role": "user", "content": "More"}
        assert client.responses.retrieve(first.id).output_text == "native says: Hi"


def test_a_redis_that_does_not_answer_is_a_503_and_never_loses_the_answer(
    fakes: Fakes, tmp_path: Path
) -> None:
    up, claude = fakes
    server = {
        "redis_url": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        "responses_store": {"backend": "redis"},
    }
    with responses_gateway(tmp_path / "cfg", up.url, claude.url, server) as url:
        answered = sdk(url).responses.create(model="echo/echo-1", input="Hi", store=True)
        assert answered.output_text == "Hi"
        for method, path, body in [
            ("GET", f"/v1/responses/{answered.id}", b""),
            (
                "POST",
                "/v1/responses",
                {"model": "echo/echo-1", "input": "x", "previous_response_id": answered.id},
            ),
        ]:
            status, _, raw = call(url + path, body, method=method)
            assert status == 503, raw
            validate("ErrorResponse", json.loads(raw))


@pytest.mark.parametrize("backend", ["none", "memory"])
def test_the_openapi_document_shows_stored_responses_only_with_a_store(
    backend: str, tmp_path: Path
) -> None:
    server = {"responses_store": {"backend": backend}}
    write_config(
        tmp_path / "cfg", {"providers": {"echo": {"kind": "echo", "models": ["e"]}}}, server=server
    )
    document = openapi_document(create_app(tmp_path / "cfg").config["PATCHBAY_RUNTIME"].snapshot)
    openapi_spec_validator.validate(document)
    create = document["paths"]["/v1/responses"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ResponsesRequest"
    }
    assert "text/event-stream" in create["responses"]["200"]["content"]
    stored = document["paths"].get("/v1/responses/{response_id}", {})
    assert sorted(stored) == ([] if backend == "none" else ["delete", "get"])
