"""The `anthropic` kind through the gateway: the official OpenAI SDK in front, the fake
Messages API behind, and every answer checked against OpenAI's own schemas."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pydantic
import pytest

from tests.fakes.anthropic_server import API_KEY, FakeAnthropic
from tests.harness import gateway
from tests.openapi_schemas import validate

CONFIG = Path(__file__).parent / "configs" / "kind-anthropic"
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic().in_thread() as server:
        yield server


@pytest.fixture
def client(
    fake: FakeAnthropic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[openai.OpenAI]:
    monkeypatch.setenv("FAKE_ANTHROPIC_URL", fake.url)
    monkeypatch.setenv("FAKE_ANTHROPIC_KEY", API_KEY)
    shutil.copytree(CONFIG, tmp_path / "cfg")
    with gateway(tmp_path / "cfg") as url:
        yield openai.OpenAI(base_url=url + "/v1", api_key="client-key", max_retries=0, timeout=20)


def streamed(client: openai.OpenAI, **kwargs: Any) -> tuple[str, dict[int, dict[str, str]], str]:
    """Stream a completion, validate every chunk, and rebuild (text, tool calls, finish)."""
    text, calls, finish = "", {}, ""
    response = client.chat.completions.with_raw_response.create(stream=True, **kwargs)
    assert response.headers["x-patchbay-provider"] == "claude"
    for chunk in response.parse():
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] += call.id or ""
                if call.function is not None:
                    slot["name"] += call.function.name or ""
                    slot["arguments"] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    return text, calls, finish


def test_chat_completion_fits_openais_schema(client: openai.OpenAI, fake: FakeAnthropic) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="claude/claude-test",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        max_tokens=100,
    )
    assert raw.headers["x-patchbay-provider"] == "claude"
    assert raw.headers["x-patchbay-model"] == "claude-test"
    validate("CreateChatCompletionResponse", json.loads(raw.text))
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello! You said: Hi"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 4
    sent = fake.requests[-1]
    assert sent.headers["anthropic-beta"] == "patchbay-test"
    assert sent.json()["system"] == "Be brief."
    assert sent.json()["max_tokens"] == 100


def test_stream_fits_openais_schema_and_reports_usage(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="claude/claude-test",
            messages=[{"role": "user", "content": "count the words"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Hello! You said: count the words"
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_round_trip(client: openai.OpenAI, stream: bool) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        text, calls, finish = streamed(
            client, model="claude/claude-test", messages=messages, tools=[WEATHER_TOOL]
        )
        [call] = calls.values()
    else:
        completion = client.chat.completions.create(
            model="claude/claude-test", messages=messages, tools=[WEATHER_TOOL]
        )
        validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
        message = completion.choices[0].message
        assert message.tool_calls is not None
        text, finish = message.content or "", completion.choices[0].finish_reason
        tool_call = message.tool_calls[0]
        call = {"id": tool_call.id, **tool_call.function.model_dump()}  # type: ignore[union-attr]
    assert (text, finish) == ("Let me check.", "tool_calls")
    assert (call["name"], call["arguments"]) == ("get_weather", '{"city":"Paris"}')
    messages += [
        {
            "role": "assistant",
            "content": text,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"},
    ]
    final = client.chat.completions.create(
        model="claude/claude-test", messages=messages, tools=[WEATHER_TOOL]
    )
    assert final.choices[0].message.content == "The tool said: sunny"


def test_upstream_rejection_is_relayed_as_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="claude/bad", messages=[{"role": "user", "content": "x"}]
        )
    assert "scripted to reject" in str(caught.value)
    assert API_KEY not in str(caught.value.body)


def test_overloaded_upstream_falls_back_along_the_alias(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="smart", messages=[{"role": "user", "content": "x"}]
    )
    assert raw.headers["x-patchbay-model"] == "claude-test"
    assert raw.headers["x-patchbay-attempts"] == "2"
    assert raw.parse().choices[0].message.content == "Hello! You said: x"


def test_error_event_mid_stream_reaches_the_sdk(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="claude/midstream-error", messages=[{"role": "user", "content": "x"}], stream=True
    )
    received = []
    with pytest.raises(openai.APIError, match="Overloaded"):
        for chunk in stream:
            received.append(chunk)
    assert received and received[0].choices[0].delta.role == "assistant"


class City(pydantic.BaseModel):
    city: str
    population: int


def test_structured_output_parses_into_a_model(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model="claude/claude-test",
        messages=[{"role": "user", "content": "Largest city in France?"}],
        response_format=City,
    )
    assert completion.choices[0].message.parsed == City(city="Paris", population=3)
