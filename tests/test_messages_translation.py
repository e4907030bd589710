"""Anthropic Messages <-> OpenAI chat, unit by unit: requests, answers, streams, the wire
format, and the relay of a native stream. Pure functions: no server needed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.errors import (
    InvalidRequest,
    NotFound,
    RateLimited,
    RequestTimedOut,
    UpstreamFailed,
    UpstreamTimeout,
)
from engine.formats import FORMATS
from engine.formats.anthropic import event
from engine.formats.anthropic_reply import EventTranslator, to_message
from engine.formats.anthropic_request import estimate_input_tokens, to_chat_request
from engine.providers.anthropic_native import MessagesRelay
from tests.messages_harness import check_order, read_events

WIRE = FORMATS["anthropic"]
PNG = "iVBORw0KGgo="


def body(*messages: Any, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 10, "messages": list(messages), **extra}


def user(*content: Any) -> dict[str, Any]:
    return {"role": "user", "content": list(content)}


TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}


def test_a_conversation_with_tools_images_and_documents() -> None:
    request = to_chat_request(
        body(
            user(
                {"type": "text", "text": "Look:"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
            ),
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "s"},
                    {"type": "text", "text": "Checking."},
                    TOOL_USE,
                ],
            },
            user(
                {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
                 "content": [{"type": "text", "text": "no data"},
                             {"type": "image", "source": {"type": "url", "url": "https://x.test/m.png"}}]},
                {"type": "text", "text": "Again?"},
            ),
            system="Be brief.",
            tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
            tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
            thinking={"type": "enabled", "budget_tokens": 1024},
            top_k=3,
        )
    )  # fmt: skip
    assert request == {
        "model": "m",
        "max_tokens": 10,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look:"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
                    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "document.pdf"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {"id": "toolu_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "Error: no data"},
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://x.test/m.png"}},
                    {"type": "text", "text": "Again?"},
                ],
            },
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("choice", "expected"), [("auto", "auto"), ("any", "required"), ("none", "none")]
)
def test_tool_choice(choice: str, expected: str) -> None:
    tools = [{"name": "t", "input_schema": {}}]
    request = to_chat_request(body(user(), tools=tools, tool_choice={"type": choice}))
    assert request["tool_choice"] == expected


def test_a_stream_asks_for_usage_and_stop_sequences_become_stop() -> None:
    request = to_chat_request(
        body({"role": "user", "content": "Hi"}, stream=True, stop_sequences=["X"])
    )
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    assert request["stop"] == ["X"] and request["messages"] == [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize(
    ("messages", "extra", "says"),
    [
        ([user({"type": "hologram"})], {}, "messages.0.content.0.type: 'hologram'"),
        ([user(TOOL_USE)], {}, "messages.0.content.0.type: 'tool_use'"),
        ([{"role": "assistant", "content": [{"type": "image"}]}], {}, "'image'"),
        ([user({"type": "tool_result", "tool_use_id": "toolu_1"})], {}, "'toolu_1' answers no"),
        (
            [user({"type": "image", "source": {"type": "file", "file_id": "f"}})],
            {},
            "source of type 'file'",
        ),
        (
            [user()],
            {"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
            "tools.0.type",
        ),
        (
            [user()],
            {
                "tools": [{"name": "a", "input_schema": {}}],
                "tool_choice": {"type": "tool", "name": "b"},
            },
            "tool_choice.name",
        ),
    ],
)
def test_what_cannot_be_translated_is_a_400(
    messages: list[Any], extra: dict[str, Any], says: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_chat_request(body(*messages, **extra))
    assert says in caught.value.message


def test_a_tool_result_must_answer_the_turn_just_before() -> None:
    earlier = {"role": "assistant", "content": [TOOL_USE]}
    answer = user({"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"})
    to_chat_request(body(user({"type": "text", "text": "q"}), earlier, answer))
    later = body(user(), earlier, answer, {"role": "assistant", "content": "ok"}, answer)
    with pytest.raises(InvalidRequest):
        to_chat_request(later)


def completion(finish: str, message: dict[str, Any], **choice: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-abc",
        "model": "gpt-x",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, **choice}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 2}},
    }  # fmt: skip


CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}


@pytest.mark.parametrize(
    ("finish", "message", "extra", "reason", "sequence"),
    [
        ("stop", {"content": "hi"}, {}, "end_turn", None),
        ("length", {"content": "hi"}, {}, "max_tokens", None),
        ("tool_calls", {"content": None, "tool_calls": [CALL]}, {}, "tool_use", None),
        ("stop", {"content": None, "tool_calls": [CALL]}, {}, "tool_use", None),
        ("content_filter", {"content": ""}, {}, "refusal", None),
        ("stop", {"content": "hi"}, {"stop_reason": "END"}, "stop_sequence", "END"),
        ("stop", {"content": "hi"}, {"stop_reason": "OTHER"}, "end_turn", None),
    ],
)
def test_stop_reasons_map_exactly(
    finish: str, message: dict[str, Any], extra: dict[str, Any], reason: str, sequence: str | None
) -> None:
    answer = to_message(completion(finish, message, **extra), model="m", sequences=["END"])
    assert (answer["stop_reason"], answer["stop_sequence"]) == (reason, sequence)


def test_a_completion_becomes_a_message() -> None:
    answer = to_message(completion("tool_calls", {"content": "Let me see.", "tool_calls": [CALL]}), model="m", sequences=[])  # fmt: skip
    assert answer == {
        "id": "msg_abc",
        "type": "message",
        "role": "assistant",
        "model": "gpt-x",
        "content": [
            {"type": "text", "text": "Let me see."},
            {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 7, "output_tokens": 4, "cache_read_input_tokens": 2},
    }
    broken = {**CALL, "function": {"name": "f", "arguments": "{not json"}}
    with pytest.raises(UpstreamFailed):
        to_message(completion("tool_calls", {"tool_calls": [broken]}), model="m", sequences=[])


def chunk(
    delta: dict[str, Any] | None = None, finish: str | None = None, **top: Any
) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-s", "model": "gpt-x", "choices": choices, **top}


def tool(index: int, arguments: str, **head: Any) -> dict[str, Any]:
    return {"tool_calls": [{"index": index, "function": {"arguments": arguments, **head}, **({"id": f"c{index}"} if head else {})}]}  # fmt: skip


def test_a_stream_of_text_and_two_tool_calls_in_order() -> None:
    translator = EventTranslator(model="m")
    raw = (
        b"".join(
            translator.feed(c)
            for c in [
                chunk({"role": "assistant", "content": ""}),
                chunk({"content": "Let"}),
                chunk({"content": " me."}),
                chunk(tool(0, "", name="a")),
                chunk(tool(0, '{"x"')),
                chunk(tool(0, ": 1}")),
                chunk(tool(1, "{}", name="b")),
                chunk({}, "tool_calls"),
                chunk(usage={"prompt_tokens": 5, "completion_tokens": 3}),
            ]
        )
        + translator.end()
    )
    events = read_events(raw)
    assert check_order(events) == ["text", "tool_use", "tool_use"]
    pieces = [d["delta"].get("partial_json", "") for n, d in events if n == "content_block_delta" and d["index"] == 1]  # fmt: skip
    assert json.loads("".join(pieces)) == {"x": 1}
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert delta["usage"] == {"input_tokens": 5, "output_tokens": 3}
    assert WIRE.usage_tokens(delta) == 8


def test_tool_arguments_out_of_order_are_an_upstream_fault() -> None:
    translator = EventTranslator(model="m")
    translator.feed(chunk(tool(0, "{", name="a")))
    translator.feed(chunk(tool(1, "{", name="b")))
    with pytest.raises(UpstreamFailed):
        translator.feed(chunk(tool(0, "}")))


def test_a_stream_without_usage_reports_an_output_estimate_and_no_input() -> None:
    translator = EventTranslator(model="m")
    raw = translator.feed(chunk({"content": "12345678"}, "stop")) + translator.end()
    delta = read_events(raw)[-2][1]
    assert delta["usage"] == {"output_tokens": 2}
    assert WIRE.usage_tokens(delta) is None  # so the limiter estimates instead
    empty = read_events(EventTranslator(model="m").end())
    assert check_order(empty) == []


@pytest.mark.parametrize(
    ("error", "status", "type_"),
    [
        (InvalidRequest("x"), 400, "invalid_request_error"),
        (NotFound("x"), 404, "not_found_error"),
        (RequestTimedOut("x"), 408, "timeout_error"),
        (RateLimited("x"), 429, "rate_limit_error"),
        (UpstreamFailed("x"), 502, "api_error"),
        (UpstreamFailed("x", status=503), 503, "overloaded_error"),
        (UpstreamTimeout("x"), 504, "timeout_error"),
    ],
)
def test_errors_take_anthropics_type_by_status(error: Any, status: int, type_: str) -> None:
    assert error.status == status
    assert json.loads(WIRE.error_body(error, "said", error.type)) == {
        "type": "error",
        "error": {"type": type_, "message": "said"},
    }
    framed = WIRE.error_event(error)
    assert framed.startswith(b"event: error\ndata: {") and framed.endswith(b"\n\n")


def test_credentials_and_usage() -> None:
    assert WIRE.credential({"x-api-key": "k1", "authorization": "Bearer k2"}) == "k1"
    assert WIRE.credential({"authorization": "Bearer k2"}) == "k2"
    assert WIRE.credential({"authorization": "Basic k2"}) is None
    message = {"type": "message", "usage": {"input_tokens": 3, "cache_read_input_tokens": 4, "output_tokens": 5}}  # fmt: skip
    assert WIRE.usage_tokens(message) == 12
    assert WIRE.usage_tokens({"type": "message_start", "message": message}) is None
    delta = {"type": "content_block_delta", "delta": {"type": "input_json_delta", "partial_json": '{"a"'}}  # fmt: skip
    assert WIRE.generated_chars(delta) == 4


def test_a_native_stream_gets_totals_in_its_message_delta_and_errors_raise() -> None:
    relay = MessagesRelay("claude", lambda data: UpstreamFailed(data["error"]["message"]))
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 11, "output_tokens": 1}}}  # fmt: skip
    text = event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "event: message_stop"}})  # fmt: skip
    assert relay.events(text) == text  # untouched bytes
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 6}}  # fmt: skip
    out = relay.events(event("message_start", start) + text + event("message_delta", delta))
    sent = read_events(out)[-1][1]
    assert sent["usage"] == {"output_tokens": 6, "input_tokens": 11}
    assert not relay.done
    relay.events(event("message_stop", {"type": "message_stop"}))
    assert relay.done
    failing = MessagesRelay("claude", lambda data: UpstreamFailed(data["error"]["message"]))
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert failing.events(text + event("error", error) + text) == text
    assert failing.failure is not None and failing.failure.message == "Overloaded"


def test_token_estimates_count_text_tools_and_images() -> None:
    messages = body(
        user({"type": "text", "text": "x" * 40}, {"type": "image", "source": {}}),
        system=[{"type": "text", "text": "y" * 8}],
    )
    assert estimate_input_tokens(messages) == 12 + 1600
    assert estimate_input_tokens(body({"role": "user", "content": ""})) == 1
