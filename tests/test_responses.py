"""POST /v1/responses through the official OpenAI SDK, over every kind of target: an
`openai` upstream by translation and natively, an `anthropic` upstream, and echo. Every
answer is held to OpenAI's published schemas, every stream to the documented order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pydantic
import pytest

from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI
from tests.openapi_schemas import validate
from tests.responses_checks import check_response, check_stream, parse_stream
from tests.responses_harness import TARGETS, WEATHER_TOOL, call, responses_gateway, sdk

PROVIDER = {"up": "up", "native": "native", "claude": "claude", "echo": "echo"}


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeOpenAI, FakeAnthropic]]:
    with FakeOpenAI(("gpt-test",)).in_thread() as up, FakeAnthropic().in_thread() as claude:
        yield up, claude


@pytest.fixture(scope="module")
def url(
    fakes: tuple[FakeOpenAI, FakeAnthropic], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    up, claude = fakes
    with responses_gateway(
        tmp_path_factory.mktemp("responses") / "cfg", up.url, claude.url
    ) as served:
        yield served


def said(target: str, text: str) -> str:
    """What each target answers to a user's `text`."""
    return {
        "up": f"upstream says: {text}",
        "native": f"native says: {text}",
        "claude": f"Hello! You said: {text}",
        "echo": text,
    }[target.split("/")[0]]


def stream_raw(url: str, body: dict[str, Any]) -> tuple[int, dict[str, str], list[dict[str, Any]]]:
    status, headers, raw = call(url + "/v1/responses", {**body, "stream": True})
    assert status == 200, raw[:300]
    assert headers["content-type"].startswith("text/event-stream")
    return status, headers, parse_stream(raw)


@pytest.mark.parametrize("target", TARGETS)
def test_plain_answer_fits_openais_schema(url: str, target: str) -> None:
    raw = sdk(url).responses.with_raw_response.create(
        model=target, input="Hi", instructions="Be brief.", max_output_tokens=50
    )
    check_response(json.loads(raw.text))
    assert raw.headers["x-patchbay-provider"] == target.split("/")[0]
    response = raw.parse()
    assert response.output_text == said(target, "Hi")
    assert response.status == "completed"
    assert response.id.startswith("resp")
    assert response.store is False
    assert response.usage is not None and response.usage.total_tokens > 0


@pytest.mark.parametrize("target", TARGETS)
def test_stream_follows_the_documented_lifecycle(url: str, target: str) -> None:
    _, headers, events = stream_raw(url, {"model": target, "input": "Hello there"})
    final = check_stream(events)
    assert headers["x-patchbay-provider"] == target.split("/")[0]
    assert final["status"] == "completed"
    assert final["output"][0]["content"][0]["text"] == said(target, "Hello there")
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert len(deltas) > 1  # streamed as it came, not in one piece
    created = sdk(url).responses.create(model=target, input="Hello there", stream=True)
    assert [event.type for event in created] == [event["type"] for event in events]
    with sdk(url).responses.stream(model=target, input="Hello there") as stream:
        for _ in stream:
            pass
        assert stream.get_final_response().output_text == said(target, "Hello there")


@pytest.mark.parametrize("target", ["up/gpt-test", "native/gpt-test", "claude/claude-test"])
@pytest.mark.parametrize("streamed", [False, True])
def test_function_tool_round_trip(
    url: str, fakes: tuple[FakeOpenAI, FakeAnthropic], target: str, streamed: bool
) -> None:
    client = sdk(url)
    question = {"role": "user", "content": "Weather in Paris?"}
    if streamed:
        _, _, events = stream_raw(
            url, {"model": target, "input": [question], "tools": [WEATHER_TOOL]}
        )
        first: dict[str, Any] = check_stream(events)
    else:
        first = client.responses.create(
            model=target, input=[question], tools=[WEATHER_TOOL]
        ).model_dump(exclude_unset=True)
        check_response(first)
    calls = [item for item in first["output"] if item["type"] == "function_call"]
    assert len(calls) == 1 and calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    result = {"type": "function_call_output", "call_id": calls[0]["call_id"], "output": "sunny"}
    second = client.responses.create(
        model=target, input=[question, *first["output"], result], tools=[WEATHER_TOOL]
    )
    check_response(second.model_dump(exclude_unset=True))
    expected = {
        "up": "upstream says: sunny",
        "native": "native saw the tool say: sunny",
        "claude": "The tool said: sunny",
    }
    assert second.output_text == expected[target.split("/")[0]]
    if target.startswith("up/"):
        sent = fakes[0].requests[-1].json()  # the chat request the translation made
        assert sent["messages"][-2]["tool_calls"][0]["id"] == calls[0]["call_id"]
        assert sent["messages"][-1] == {
            "role": "tool",
            "tool_call_id": calls[0]["call_id"],
            "content": "sunny",
        }
        assert sent["tools"][0]["function"]["name"] == "get_weather"


def test_function_outputs_reach_echo_as_a_chat_conversation(url: str) -> None:
    question = {"role": "user", "content": "Weather in Paris?"}
    called = {
        "type": "function_call",
        "call_id": "call_9",
        "name": "get_weather",
        "arguments": "{}",
    }
    result = {"type": "function_call_output", "call_id": "call_9", "output": "sunny"}
    response = sdk(url).responses.create(model="echo/echo-1", input=[question, called, result])
    assert response.output_text == "sunny"  # echo answers a tool result with that result


class Weather(pydantic.BaseModel):
    city: str


@pytest.mark.parametrize("target", ["claude/claude-test", "echo/echo-1"])
def test_json_schema_text_format_parses(url: str, target: str) -> None:
    raw = sdk(url).responses.with_raw_response.parse(
        model=target, input='{"city": "Paris"}', text_format=Weather
    )
    check_response(json.loads(raw.text))
    assert json.loads(raw.text)["text"]["format"]["type"] == "json_schema"
    assert raw.parse().output_parsed == Weather(city="Paris")


def test_json_schema_text_format_becomes_chats_response_format(
    url: str, fakes: tuple[FakeOpenAI, FakeAnthropic]
) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    fmt = {"type": "json_schema", "name": "weather", "schema": schema, "strict": True}
    sdk(url).responses.create(model="up/gpt-test", input="Paris?", text={"format": fmt})
    sent = fakes[0].requests[-1].json()
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "weather", "schema": schema, "strict": True},
    }


def test_native_provider_gets_the_request_as_it_is(
    url: str, fakes: tuple[FakeOpenAI, FakeAnthropic]
) -> None:
    sdk(url).responses.create(
        model="native/gpt-test",
        input="Hi",
        tools=[WEATHER_TOOL],
        tool_choice="none",
        reasoning={"effort": "low"},
    )
    sent = fakes[0].requests[-1]
    assert sent.path == "/v1/responses"
    body = sent.json()
    assert body["model"] == "gpt-test" and body["store"] is False
    assert body["tools"] == [WEATHER_TOOL] and body["reasoning"] == {"effort": "low"}
    assert body["input"] == [{"type": "message", "role": "user", "content": "Hi"}]


def test_translation_carries_sampling_and_reasoning_only_where_supported(
    url: str, fakes: tuple[FakeOpenAI, FakeAnthropic]
) -> None:
    args: Any = {"input": "Hi", "temperature": 0.5, "top_p": 0.9, "reasoning": {"effort": "low"}}
    sdk(url).responses.create(model="up/gpt-test", max_output_tokens=40, **args)
    sent = fakes[0].requests[-1].json()
    assert sent["temperature"] == 0.5 and sent["top_p"] == 0.9 and sent["max_tokens"] == 40
    assert sent["reasoning_effort"] == "low"  # an openai-kind upstream decides for itself
    sdk(url).responses.create(
        model="claude/claude-test", max_output_tokens=40, **{**args, "temperature": 0.5}
    )
    sent = fakes[1].requests[-1].json()
    assert "thinking" not in sent and "reasoning_effort" not in sent and sent["max_tokens"] == 40


@pytest.mark.parametrize("target", ["up/midstream-error", "native/break-stream"])
def test_a_stream_that_breaks_ends_with_error_and_response_failed(url: str, target: str) -> None:
    _, _, events = stream_raw(url, {"model": target, "input": "Hello there"})
    final = check_stream(events)
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert final["status"] == "failed" and final["error"]["code"] == "server_error"


@pytest.mark.parametrize("target", ["up/fail-500", "native/fail-500"])
def test_an_upstream_failure_before_the_first_byte_is_a_json_error(url: str, target: str) -> None:
    for stream in (False, True):
        status, _, body = call(
            url + "/v1/responses", {"model": target, "input": "Hi", "stream": stream}
        )
        assert status == 502
        validate("ErrorResponse", json.loads(body))


BAD_INPUT: list[tuple[bytes | dict[str, Any], str | None]] = [
    (b'{"model": "echo/echo-1", "input": ', None),
    ({"model": "echo/echo-1"}, "input"),
    ({"model": "echo/echo-1", "input": [{"type": "computer_call", "id": "x"}]}, "input[0].type"),
    (
        {
            "model": "up/gpt-test",
            "input": [
                {"role": "user", "content": "Hi"},
                {"type": "function_call_output", "call_id": "call_nowhere", "output": "42"},
            ],
        },
        "input[1].call_id",
    ),
    ({"model": "echo/echo-1", "input": "Hi", "tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"model": "echo/echo-1", "input": [{"role": "robot", "content": "Hi"}]}, "input[0].role"),
    (
        {"model": "echo/echo-1", "input": "Hi", "previous_response_id": "resp_123"},
        "previous_response_id",
    ),
]


@pytest.mark.parametrize(("body", "param"), BAD_INPUT)
def test_bad_input_is_a_400_in_openais_shape(
    url: str, body: bytes | dict[str, Any], param: str | None
) -> None:
    status, _, raw = call(url + "/v1/responses", body)
    assert status == 400, raw
    error = json.loads(raw)
    validate("ErrorResponse", error)
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["param"] == param


def test_previous_response_id_without_a_store_says_how_to_keep_one(url: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(url).responses.create(model="echo/echo-1", input="Hi", previous_response_id="resp_1")
    assert "responses_store" in caught.value.message
    status, _, _ = call(url + "/v1/responses/resp_1", b"", method="GET")
    assert status == 404


def test_store_true_without_a_store_answers_and_says_it_kept_nothing(url: str) -> None:
    response = sdk(url).responses.create(model="echo/echo-1", input="Hi", store=True)
    assert response.store is False and response.output_text == "Hi"


@pytest.mark.parametrize("stream", [False, True])
def test_tokens_per_minute_count_a_responses_usage(
    fakes: tuple[FakeOpenAI, FakeAnthropic], tmp_path: Path, stream: bool
) -> None:
    up, claude = fakes
    server = {"rate_limit": {"tpm": 1000}}
    with responses_gateway(tmp_path / "cfg", up.url, claude.url, server) as served:
        body = {"model": "up/gpt-test", "input": "Hi", "stream": stream}
        status, _, _ = call(served + "/v1/responses", body)
        assert status == 200
        status, headers, _ = call(served + "/v1/responses", {**body, "stream": False})
        # The fake reports 5 prompt and 7 completion tokens for each answer.
        assert headers["x-ratelimit-remaining-tokens"] == str(1000 - 12)
