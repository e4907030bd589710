"""The `anthropic` kind against a fake Messages API on a real loopback socket."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from engine.errors import GatewayError, RateLimited, UpstreamFailed, UpstreamRejected
from engine.formats.sse import payloads
from engine.providers.anthropic import Anthropic
from engine.providers.base import Call, Model, Provider
from engine.upstream.client import Upstream
from tests.fakes.anthropic_server import API_KEY, FakeAnthropic

pytestmark = pytest.mark.anyio

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}},
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic() as server:
        yield server


def claude(url: str, key: str | None = API_KEY, **fields: Any) -> Anthropic:
    provider = Provider(
        name="claude",
        kind="anthropic",
        status="active",
        base_url=url,
        api_key=key,
        timeout=10,
        models={"claude-test": Model("claude-test")},
        **fields,
    )
    return Anthropic(provider)


def call_for(
    kind: Anthropic, upstream: Upstream, body: dict[str, Any], model: str = "claude-test"
) -> Call:
    return Call(upstream, kind.provider, Model(model), body)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


async def chat(
    kind: Anthropic, upstream: Upstream, body: dict[str, Any], model: str = "claude-test"
) -> Any:
    return orjson.loads(await kind.chat(call_for(kind, upstream, body, model)))


async def stream(
    kind: Anthropic, upstream: Upstream, body: dict[str, Any], model: str = "claude-test"
) -> list[Any]:
    chunks = await kind.chat_stream(call_for(kind, upstream, {**body, "stream": True}, model))
    framed = [item async for item in chunks]
    assert framed[-1].endswith(b"data: [DONE]\n\n")  # the end goes out with the last chunks
    return [orjson.loads(p) for item in framed for p in payloads(item) if p != b"[DONE]"]


def reassemble(chunks: list[Any]) -> tuple[str, dict[int, dict[str, str]], str | None]:
    """(text, tool calls by index, finish_reason) the way an OpenAI client rebuilds them."""
    text, calls, finish = "", {}, None
    for chunk in chunks:
        for choice in chunk["choices"]:
            delta = choice["delta"]
            text += delta.get("content") or ""
            for call in delta.get("tool_calls", []):
                slot = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                slot["id"] += call.get("id", "")
                slot["name"] += call.get("function", {}).get("name", "")
                slot["arguments"] += call.get("function", {}).get("arguments", "")
            finish = choice["finish_reason"] or finish
    return text, calls, finish


async def test_chat_sends_the_messages_api_request_and_translates_the_answer(
    fake: FakeAnthropic, upstream: Upstream
) -> None:
    kind = claude(fake.url, headers={"anthropic-beta": "test-beta"})
    body = {
        "model": "claude/claude-test",
        "messages": [{"role": "system", "content": "Be brief."}, user("Hi")],
    }
    before = copy.deepcopy(body)
    completion = await chat(kind, upstream, body)
    assert body == before
    assert completion["object"] == "chat.completion"
    assert completion["id"].startswith("chatcmpl-msg_fake")
    assert completion["model"] == "claude-test"
    assert completion["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello! You said: Hi",
        "refusal": None,
    }
    assert completion["choices"][0]["finish_reason"] == "stop"
    usage = completion["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    sent = fake.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == API_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == "test-beta"
    assert sent.json()["system"] == "Be brief."
    assert sent.json()["stream"] is False


async def test_stream_reassembles_text_and_reports_usage(
    fake: FakeAnthropic, upstream: Upstream
) -> None:
    kind = claude(fake.url)
    body = {"messages": [user("stream me please")], "stream_options": {"include_usage": True}}
    chunks = await stream(kind, upstream, body)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    text, calls, finish = reassemble(chunks)
    assert (text, calls, finish) == ("Hello! You said: stream me please", {}, "stop")
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 6
    without_usage = await stream(kind, upstream, {"messages": [user("x")]})
    assert all(c["choices"] for c in without_usage)


async def test_tool_round_trip_without_streaming(fake: FakeAnthropic, upstream: Upstream) -> None:
    kind = claude(fake.url)
    messages = [user("Weather in Paris?")]
    first = await chat(kind, upstream, {"messages": messages, "tools": [WEATHER_TOOL]})
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check."
    [tool_call] = choice["message"]["tool_calls"]
    assert tool_call["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    messages += [
        choice["message"],
        {"role": "tool", "tool_call_id": tool_call["id"], "content": "sunny, 24 C"},
    ]
    final = await chat(kind, upstream, {"messages": messages, "tools": [WEATHER_TOOL]})
    assert final["choices"][0]["message"]["content"] == "The tool said: sunny, 24 C"
    assert final["choices"][0]["finish_reason"] == "stop"


async def test_tool_round_trip_streaming_with_parallel_calls(
    fake: FakeAnthropic, upstream: Upstream
) -> None:
    kind = claude(fake.url)
    tools = [WEATHER_TOOL, TIME_TOOL]
    messages: list[dict[str, Any]] = [user("Weather and time?")]
    chunks = await stream(kind, upstream, {"messages": messages, "tools": tools}, "claude-parallel")
    text, calls, finish = reassemble(chunks)
    assert finish == "tool_calls"
    assert text == "Let me check."
    assert sorted(calls) == [0, 1]
    assert (calls[0]["name"], calls[0]["arguments"]) == ("get_weather", '{"city":"Paris"}')
    assert (calls[1]["name"], calls[1]["arguments"]) == ("get_time", "{}")
    assistant = {
        "role": "assistant",
        "content": text,
        "tool_calls": [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in calls.values()
        ],
    }
    results = [
        {"role": "tool", "tool_call_id": c["id"], "content": f"result {i}"}
        for i, c in calls.items()
    ]
    messages += [assistant, *results]
    chunks = await stream(kind, upstream, {"messages": messages, "tools": tools}, "claude-parallel")
    assert reassemble(chunks)[0] == "The tool said: result 0; result 1"
    # Both results travelled in one user turn, right after the assistant's tool_use turn.
    sent = fake.requests[-1].json()["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert [b["type"] for b in sent[2]["content"]] == ["tool_result", "tool_result"]


async def test_forced_tool_choice_and_disabled_parallel_calls(
    fake: FakeAnthropic, upstream: Upstream
) -> None:
    kind = claude(fake.url)
    body = {
        "messages": [user("time please")],
        "tools": [WEATHER_TOOL, TIME_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_time"}},
        "parallel_tool_calls": False,
    }
    completion = await chat(kind, upstream, body, "claude-parallel")
    message = completion["choices"][0]["message"]
    assert message["content"] is None
    assert [c["function"]["name"] for c in message["tool_calls"]] == ["get_time"]
    assert fake.requests[-1].json()["tool_choice"] == {
        "type": "tool",
        "name": "get_time",
        "disable_parallel_tool_use": True,
    }


@pytest.mark.parametrize(
    ("extra", "finish", "content"),
    [
        ({"max_tokens": 2}, "length", "Hello! You"),
        ({"stop": ["said"]}, "stop", "Hello! You "),
        ({}, "stop", "Hello! You said: one two three"),
    ],
)
async def test_stop_reasons_both_modes(
    fake: FakeAnthropic, upstream: Upstream, extra: dict[str, Any], finish: str, content: str
) -> None:
    kind = claude(fake.url)
    body = {"messages": [user("one two three")], **extra}
    completion = await chat(kind, upstream, body)
    assert completion["choices"][0]["finish_reason"] == finish
    assert completion["choices"][0]["message"]["content"] == content
    text, _, streamed_finish = reassemble(await stream(kind, upstream, body))
    assert (text, streamed_finish) == (content, finish)


async def test_images_reach_the_upstream_as_image_blocks(
    fake: FakeAnthropic, upstream: Upstream
) -> None:
    kind = claude(fake.url)
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    completion = await chat(kind, upstream, {"messages": [{"role": "user", "content": content}]})
    assert completion["choices"][0]["message"]["content"].endswith("I see 2 image(s).")
    blocks = fake.requests[-1].json()["messages"][0]["content"]
    assert blocks[1]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": "iVBORw0KGgo=",
    }
    assert blocks[2]["source"] == {"type": "url", "url": "https://example.com/cat.jpg"}


@pytest.mark.parametrize(
    ("model", "error", "status"),
    [
        ("bad", UpstreamRejected, 400),
        ("ratelimited", RateLimited, 429),
        ("broken", UpstreamFailed, 502),
        ("overloaded", UpstreamFailed, 503),
    ],
)
async def test_upstream_errors_are_mapped_before_the_first_byte(
    fake: FakeAnthropic, upstream: Upstream, model: str, error: type[GatewayError], status: int
) -> None:
    kind = claude(fake.url)
    for attempt in (chat, stream):
        with pytest.raises(error) as caught:
            await attempt(kind, upstream, {"messages": [user("x")]}, model)
        assert caught.value.status == status
        assert "claude" in caught.value.message
    if model == "ratelimited":
        assert caught.value.headers["Retry-After"] == "7"


async def test_wrong_key_is_rejected_and_never_echoed(
    fake: FakeAnthropic, upstream: Upstream
) -> None:
    kind = claude(fake.url, key="sk-ant-wrong-secret")
    with pytest.raises(UpstreamRejected) as caught:
        await chat(kind, upstream, {"messages": [user("x")]})
    assert caught.value.status == 401
    assert "sk-ant-wrong-secret" not in caught.value.message


async def test_error_event_mid_stream_raises_after_the_first_chunks(
    fake: FakeAnthropic, upstream: Upstream
) -> None:
    kind = claude(fake.url)
    chunks = await kind.chat_stream(
        call_for(kind, upstream, {"messages": [user("x")]}, "midstream-error")
    )
    received = []
    with pytest.raises(UpstreamFailed) as caught:
        async for framed in chunks:
            received.extend(orjson.loads(p) for p in payloads(framed))
    assert received[0]["choices"][0]["delta"]["role"] == "assistant"
    assert reassemble(received)[0] == "Hello!"
    assert caught.value.status == 503
    assert "Overloaded" in caught.value.message


async def test_stream_cut_short_raises(fake: FakeAnthropic, upstream: Upstream) -> None:
    kind = claude(fake.url)
    with pytest.raises(UpstreamFailed, match="before message_stop"):
        await stream(kind, upstream, {"messages": [user("x")]}, "truncated")


async def test_unreachable_upstream_is_a_gateway_error(upstream: Upstream) -> None:
    async with FakeAnthropic() as gone:
        url = gone.url
    with pytest.raises(UpstreamFailed):
        await chat(claude(url), upstream, {"messages": [user("x")]})


async def test_discover_models(fake: FakeAnthropic, upstream: Upstream) -> None:
    assert await claude(fake.url).discover_models(upstream) == ["claude-test"]


async def test_json_schema_answers_arrive_as_content_in_both_modes(
    fake: FakeAnthropic, upstream: Upstream
) -> None:
    kind = claude(fake.url)
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "rank": {"type": "integer"}},
    }
    body = {
        "messages": [user("Largest city?")],
        "response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
    }
    completion = await chat(kind, upstream, body)
    message = completion["choices"][0]["message"]
    assert orjson.loads(message["content"]) == {"city": "Paris", "rank": 3}
    assert "tool_calls" not in message
    assert completion["choices"][0]["finish_reason"] == "stop"
    text, calls, finish = reassemble(await stream(kind, upstream, body))
    assert (orjson.loads(text), calls, finish) == ({"city": "Paris", "rank": 3}, {}, "stop")
