"""The Responses translation as pure functions: requests to chat, chat answers and chunks to
Responses and events, usage for limits, the memory store's bounds, the store's settings."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from engine.config.settings import SettingError, resolve_settings
from engine.errors import InvalidRequest, UpstreamFailed
from engine.formats import FORMATS
from engine.formats.responses import ResponseHead, from_chat_completion
from engine.formats.responses_input import input_items, to_chat_request
from engine.formats.responses_stream import ResponseEvents
from engine.stores.memory import MemoryResponses
from tests.responses_checks import check_response, check_stream, parse_stream

WIRE = FORMATS["responses"]


def head(**request: Any) -> ResponseHead:
    return ResponseHead("resp_1", 1700000000, "m-1", {"model": "p/m-1", **request}, False)


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return (
        b"data: "
        + orjson.dumps({"object": "chat.completion.chunk", "choices": choices, **extra})
        + b"\n\n"
    )


USAGE = chunk(None, usage={"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5})


def streamed(*chunks: bytes) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Feed chunks (then a usage chunk, as include_usage asks) and check the events."""
    events = ResponseEvents(head(), "p")
    raw = events.start()
    raw += b"".join(events.feed(c) for c in (*chunks, USAGE))
    raw += events.close()
    parsed = parse_stream(raw)
    return parsed, check_stream(parsed)


def test_input_items_translate_to_one_chat_conversation() -> None:
    body = {
        "model": "p/m",
        "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Answer in French."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {
                        "type": "input_image",
                        "image_url": "data:image/png;base64,AAAA",
                        "detail": "low",
                    },
                ],
            },
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Checking."}],
            },
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "function_call", "call_id": "c1", "name": "look", "arguments": '{"a": 1}'},
            {"type": "function_call", "call_id": "c2", "name": "look", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "a cat"},
            {
                "type": "function_call_output",
                "call_id": "c2",
                "output": [{"type": "input_text", "text": "a hat"}],
            },
        ],
    }
    assert to_chat_request(body, input_items(body))["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "system", "content": "Answer in French."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "look", "arguments": '{"a": 1}'},
                },
                {"id": "c2", "type": "function", "function": {"name": "look", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "a cat"},
        {"role": "tool", "tool_call_id": "c2", "content": "a hat"},
    ]


def test_request_fields_translate_to_chats() -> None:
    body = {
        "model": "p/m",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
        "tools": [
            {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}
        ],
        "tool_choice": {"type": "function", "name": "f"},
        "parallel_tool_calls": False,
        "text": {"format": {"type": "json_object"}},
        "max_output_tokens": 9,
        "safety_identifier": "u-1",
        "stream": True,
    }
    assert to_chat_request(body, input_items(body)) == {
        "model": "p/m",
        "messages": [{"role": "user", "content": "Hi"}],
        "tools": [
            {
                "type": "function",
                "function": {"name": "f", "parameters": {"type": "object"}, "strict": True},
            }
        ],
        "parallel_tool_calls": False,
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "max_tokens": 9,
        "user": "u-1",
        "response_format": {"type": "json_object"},
        "stream": True,
        "stream_options": {"include_usage": True},
    }


@pytest.mark.parametrize(
    ("change", "param"),
    [
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0].type",
        ),
        (
            {"input": [{"role": "system", "content": [{"type": "input_image", "image_url": "x"}]}]},
            "input[0].content[0]",
        ),
        (
            {"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
            "input[0].call_id",
        ),
        ({"background": True}, "background"),
        ({"tool_choice": {"type": "allowed_tools", "tools": []}}, "tool_choice"),
        ({"input": ["not an item"]}, "input[0]"),
    ],
)
def test_what_cannot_be_translated_is_a_400_naming_the_field(
    change: dict[str, Any], param: str
) -> None:
    body = {"model": "p/m", "input": "Hi", **change}
    with pytest.raises(InvalidRequest) as caught:
        to_chat_request(body, input_items(body))
    assert caught.value.param == param


def test_a_stored_conversations_items_are_named_as_such_in_errors() -> None:
    body = {
        "model": "p/m",
        "input": [{"type": "function_call_output", "call_id": "c9", "output": "x"}],
    }
    earlier = [
        {"role": "user", "content": "Hi"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
    ]
    with pytest.raises(InvalidRequest) as caught:
        to_chat_request(body, [*earlier, *input_items(body)], earlier=2)
    assert caught.value.param == "input[0].call_id"


def test_a_chat_answer_with_text_refusal_and_calls_becomes_a_response() -> None:
    chat = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Let me look.",
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 3,
            "completion_tokens": 4,
            "total_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 2},
        },
    }
    response = from_chat_completion(chat, head(temperature=0.2), "p")
    check_response(response)
    assert [item["type"] for item in response["output"]] == ["message", "function_call"]
    assert response["output"][1]["call_id"] == "c1" and response["temperature"] == 0.2
    assert response["usage"]["input_tokens_details"]["cached_tokens"] == 2
    cut = {
        "choices": [{"message": {"role": "assistant", "content": "Hel"}, "finish_reason": "length"}]
    }
    response = from_chat_completion(cut, head(), "p")
    check_response(response)
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    with pytest.raises(UpstreamFailed):
        from_chat_completion({"choices": []}, head(), "p")


def test_text_then_two_calls_stream_as_three_items_in_order() -> None:
    def call(index: int, **fields: Any) -> dict[str, Any]:
        return {"tool_calls": [{"index": index, **fields}]}

    _, final = streamed(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Let me "}),
        chunk({"content": "look."}),
        chunk(call(0, id="c1", type="function", function={"name": "f", "arguments": '{"a"'})),
        chunk(call(0, function={"arguments": ": 1}"})),
        chunk(call(1, id="c2", type="function", function={"name": "g", "arguments": "{}"})),
        chunk({}, "tool_calls"),
        chunk(None, usage={"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5})
        + b"data: [DONE]\n\n",
    )
    assert [item["type"] for item in final["output"]] == [
        "message",
        "function_call",
        "function_call",
    ]
    assert final["output"][0]["content"][0]["text"] == "Let me look."
    assert final["output"][1]["arguments"] == '{"a": 1}' and final["output"][2]["name"] == "g"
    assert final["usage"]["total_tokens"] == 5 and final["status"] == "completed"


def test_refusals_lengths_and_empty_answers_stream_as_documented() -> None:
    _, final = streamed(chunk({"refusal": "I can't."}), chunk({}, "stop"))
    assert final["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't."}]
    events, final = streamed(chunk({"content": "Hel"}), chunk({}, "length"))
    assert events[-1]["type"] == "response.incomplete"
    assert final["output"][0]["status"] == "incomplete"
    _, final = streamed(chunk({}, "stop"))
    assert final["output"][0]["content"][0]["text"] == ""  # a message, even an empty one


def test_a_broken_stream_keeps_what_was_said_and_fails_in_order() -> None:
    events = ResponseEvents(head(), "p")
    raw = events.start() + events.feed(chunk({"content": "Half an "}))
    with pytest.raises(UpstreamFailed) as caught:
        events.feed(b"data: {not json\n\n")
    parsed = parse_stream(raw + events.fail(caught.value))
    final = check_stream(parsed)
    assert final["output"][0]["content"][0]["text"] == "Half an "
    assert final["output"][0]["status"] == "incomplete"


def test_arguments_for_a_call_already_finished_are_an_upstream_failure() -> None:
    events = ResponseEvents(head(), "p")
    events.feed(
        chunk(
            {"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{"}}]}
        )
    )
    events.feed(
        chunk(
            {"tool_calls": [{"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}}]}
        )
    )
    with pytest.raises(UpstreamFailed):
        events.feed(chunk({"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]}))


def test_usage_reads_responses_terms_for_limits() -> None:
    usage = {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12}
    assert WIRE.usage_tokens({"object": "response", "usage": usage}) == 12
    assert WIRE.usage_tokens({"type": "response.completed", "response": {"usage": usage}}) == 12
    assert (
        WIRE.usage_tokens({"type": "response.created", "response": {"status": "in_progress"}})
        is None
    )
    assert WIRE.generated_chars({"type": "response.output_text.delta", "delta": "four"}) == 4
    assert (
        WIRE.generated_chars({"type": "response.function_call_arguments.delta", "delta": "{}"}) == 2
    )
    assert WIRE.generated_chars({"type": "response.completed", "response": {}}) == 0


@pytest.mark.anyio
async def test_memory_store_is_bounded_by_bytes_and_ttl() -> None:
    now = [0.0]
    store = MemoryResponses(max_bytes=10, clock=lambda: now[0])
    await store.put("a", b"12345", ttl=60)
    await store.put("b", b"12345", ttl=60)
    await store.put("c", b"123", ttl=60)  # 13 bytes: the oldest goes
    assert await store.get("a") is None and await store.get("b") == b"12345"
    await store.put("huge", b"x" * 11, ttl=60)  # larger than the store: kept nowhere
    assert await store.get("huge") is None and await store.get("c") == b"123"
    now[0] = 61
    assert await store.get("b") is None
    assert await store.delete("c") is False  # expired: already gone
    await store.put("d", b"1", ttl=60)
    assert await store.delete("d") is True and await store.get("d") is None


def test_store_settings_resolve_and_are_checked() -> None:
    settings = resolve_settings({}, {"PATCHBAY_RESPONSES_STORE_BACKEND": "memory"}, {})
    assert settings.responses_store.backend == "memory" and settings.responses_store.ttl == 86400
    with pytest.raises(SettingError, match="redis_url"):
        resolve_settings({"responses_store": {"backend": "redis"}}, {}, {})
    with pytest.raises(SettingError, match=r"responses_store\.backend"):
        resolve_settings({}, {"PATCHBAY_RESPONSES_STORE_BACKEND": "disk"}, {})
    with pytest.raises(SettingError, match=r"responses_store\.ttl"):
        resolve_settings({}, {"PATCHBAY_RESPONSES_STORE_TTL": "0"}, {})
