"""POST /v1/messages with the official `anthropic` SDK, over an anthropic provider (passed
through), an openai provider (translated) and echo: answers validated with the SDK's own
types, every stream held to the documented event order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import Message

from tests.messages_harness import (
    HI_ANSWERS,
    TARGETS,
    WEATHER_TOOL,
    Stack,
    check_order,
    messages_stack,
    post,
    read_events,
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with messages_stack(tmp_path_factory.mktemp("messages") / "cfg") as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> anthropic.Anthropic:
    return stack.client()


@pytest.mark.parametrize("kind", TARGETS)
def test_create_answers_a_message(kind: str, stack: Stack, client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.create(
        model=TARGETS[kind],
        max_tokens=100,
        system=[{"type": "text", "text": "Be brief."}],
        messages=[{"role": "user", "content": "Hi"}],
    )
    assert raw.headers["x-patchbay-provider"] == TARGETS[kind].split("/")[0]
    message = Message.model_validate(json.loads(raw.text()))
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == HI_ANSWERS[kind]  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.usage.output_tokens > 0
    assert message.usage.input_tokens > 0


def test_an_anthropic_provider_gets_the_request_as_it_came(
    stack: Stack, client: anthropic.Anthropic
) -> None:
    system = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    client.messages.create(
        model="claude/claude-test",
        max_tokens=50,
        system=system,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "Hi"}],
        extra_body={"top_k": 5},
        extra_headers={
            "anthropic-version": "2023-06-01",
            "anthropic-beta": "tools-2024",
            "x-other": "not forwarded",
        },
    )
    sent = stack.anthropic.requests[-1]
    assert sent.json() == {
        "model": "claude-test",
        "max_tokens": 50,
        "system": system,
        "messages": [{"role": "user", "content": "Hi"}],
        "top_k": 5,
    }
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == "patchbay-test,tools-2024"
    assert sent.headers["x-api-key"] == "sk-ant-test-key"
    assert "x-other" not in {k.lower() for k in sent.headers}


def test_an_openai_provider_gets_chat_completions(
    stack: Stack, client: anthropic.Anthropic
) -> None:
    client.messages.create(
        model="up/gpt-test",
        max_tokens=50,
        system="Be brief.",
        messages=[{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        stop_sequences=["END"],
        extra_body={"temperature": 0.5, "top_k": 5},
        metadata={"user_id": "u-1"},
    )
    assert stack.openai.requests[-1].json() == {
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
        "max_tokens": 50,
        "temperature": 0.5,
        "stop": ["END"],
        "user": "u-1",
    }


@pytest.mark.parametrize("kind", TARGETS)
def test_text_streams_in_the_documented_order(
    kind: str, stack: Stack, client: anthropic.Anthropic
) -> None:
    body = {
        "model": TARGETS[kind],
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
    }
    status, headers, raw = post(stack.url, "/v1/messages", body)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = read_events(raw)
    assert check_order(events) == ["text"]
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"
    usage = events[-2][1]["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    with client.messages.stream(
        model=TARGETS[kind], max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == HI_ANSWERS[kind]
    Message.model_validate(final.model_dump())
    assert final.stop_reason == "end_turn" and final.usage.input_tokens > 0


@pytest.mark.parametrize("kind", TARGETS)
def test_a_streamed_tool_call_reassembles(
    kind: str, stack: Stack, client: anthropic.Anthropic
) -> None:
    ask: dict[str, Any] = {
        "model": TARGETS[kind],
        "max_tokens": 100,
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "any"},
        # echo calls a forced tool with the message as its input
        "messages": [{"role": "user", "content": '{"city": "Paris"}'}],
    }
    status, _, raw = post(stack.url, "/v1/messages", {**ask, "stream": True})
    assert status == 200
    events = read_events(raw)
    assert check_order(events)[-1] == "tool_use"
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"
    with client.messages.stream(**ask) as stream:
        final = stream.get_final_message()
    Message.model_validate(final.model_dump())
    assert final.stop_reason == "tool_use"
    call = final.content[-1]
    assert call.type == "tool_use" and call.name == "get_weather"
    assert call.input == {"city": "Paris"}
    # Whole input: the partial_json pieces join into exactly that object.
    pieces = [
        data["delta"]["partial_json"]
        for name, data in events
        if name == "content_block_delta" and data["delta"]["type"] == "input_json_delta"
    ]
    assert json.loads("".join(pieces)) == {"city": "Paris"}


@pytest.mark.parametrize("kind", TARGETS)
def test_a_tool_round_trip(kind: str, stack: Stack, client: anthropic.Anthropic) -> None:
    first = client.messages.create(
        model=TARGETS[kind],
        max_tokens=100,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": '{"city": "Paris"}'}],
    )
    Message.model_validate(first.model_dump())
    assert first.stop_reason == "tool_use"
    call = next(block for block in first.content if block.type == "tool_use")
    second = client.messages.create(
        model=TARGETS[kind],
        max_tokens=100,
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": '{"city": "Paris"}'},
            {"role": "assistant", "content": first.content},  # type: ignore[typeddict-item]
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny"}],
            },
        ],
    )
    assert second.stop_reason == "end_turn"
    if kind == "anthropic":
        assert second.content[0].text == "The tool said: Sunny"  # type: ignore[union-attr]
    if kind != "openai":
        return
    sent = stack.openai.requests[-1].json()["messages"]
    assert sent[1]["tool_calls"][0]["id"] == call.id
    assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": "Sunny"}
    assert stack.openai.requests[-2].json()["tool_choice"] == "required"


def test_count_tokens_is_passed_through_to_an_anthropic_provider(
    stack: Stack, client: anthropic.Anthropic
) -> None:
    messages: Any = [{"role": "user", "content": "How many tokens is this?"}]
    count = client.messages.count_tokens(model="claude/claude-test", messages=messages)
    assert count.input_tokens == len(json.dumps(messages, separators=(",", ":"))) // 4
    assert stack.anthropic.requests[-1].path == "/v1/messages/count_tokens"


@pytest.mark.parametrize("kind", ["openai", "echo"])
def test_count_tokens_elsewhere_is_a_400_unless_estimates_are_on(
    kind: str, client: anthropic.Anthropic
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.count_tokens(
            model=TARGETS[kind], messages=[{"role": "user", "content": "Hi"}]
        )
    assert caught.value.status_code == 400
    assert "count_tokens_estimate" in caught.value.message


def test_count_tokens_estimates_when_configured(tmp_path: Path) -> None:
    with messages_stack(tmp_path / "cfg", server={"count_tokens_estimate": True}) as stack:
        raw = stack.client().messages.with_raw_response.count_tokens(
            model="up/gpt-test", messages=[{"role": "user", "content": "x" * 400}]
        )
    assert raw.headers["x-patchbay-estimate"] == "true"
    assert raw.parse().input_tokens == 100


@pytest.mark.parametrize(
    ("said", "arguments"), [('{"city": "Paris"}', '{"city": "Paris"}'), ("Paris?", "{}")]
)
def test_echo_calls_a_forced_tool_in_chat_too(said: str, arguments: str, stack: Stack) -> None:
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key="k", max_retries=0)
    tool: Any = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    choice: Any = {"type": "function", "function": {"name": "get_weather"}}
    ask: Any = {"role": "user", "content": said}
    answer = client.chat.completions.create(
        model="echo/echo-1", messages=[ask], tools=[tool], tool_choice=choice
    )
    assert answer.choices[0].finish_reason == "tool_calls"
    call = answer.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == json.loads(arguments)  # type: ignore[union-attr]
    streamed = client.chat.completions.create(
        model="echo/echo-1", messages=[ask], tools=[tool], tool_choice="required", stream=True
    )
    pieces = [
        part.function.arguments or ""
        for chunk in streamed
        for choice_ in chunk.choices
        for part in choice_.delta.tool_calls or []
        if part.function is not None
    ]
    assert json.loads("".join(pieces)) == json.loads(arguments)
    plain = client.chat.completions.create(model="echo/echo-1", messages=[ask], tools=[tool])
    assert plain.choices[0].message.content == said  # not forced: echo answers in text
