"""OpenAI <-> Anthropic Messages translation, without any network."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from engine.errors import InvalidRequest, RateLimited, UpstreamFailed, UpstreamRejected
from engine.providers.anthropic import ChunkTranslator
from engine.providers.anthropic_wire import (
    DEFAULT_MAX_TOKENS,
    JSON_TOOL,
    to_chat_completion,
    to_messages_request,
    unwrap_json_answer,
)
from tests.fakes.anthropic_server import stream_events
from tests.test_chat import WEATHER_TOOL


def test_system_and_developer_messages_become_the_top_level_system() -> None:
    body = {
        "model": "x",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
            {"role": "user", "content": "Hi"},
        ],
    }
    request = to_messages_request(body, "claude-test")
    assert request["system"] == "Be brief.\n\nUse French."
    assert request["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert request["model"] == "claude-test"
    assert request["max_tokens"] == DEFAULT_MAX_TOKENS


def test_scalar_parameters_are_translated() -> None:
    body = {
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 50,
        "max_completion_tokens": 70,
        "stop": "END",
        "temperature": 0.3,
        "top_p": 0.9,
        "stream": True,
        "user": "alice",
        "seed": 5,
    }
    request = to_messages_request(body, "m")
    assert request["max_tokens"] == 70
    assert request["stop_sequences"] == ["END"]
    assert (request["temperature"], request["top_p"], request["stream"]) == (0.3, 0.9, True)
    assert request["metadata"] == {"user_id": "alice"}
    assert "seed" not in request
    assert to_messages_request({**body, "stop": ["a", "b"]}, "m")["stop_sequences"] == ["a", "b"]


def test_tool_round_trip_history_is_translated_and_body_left_untouched() -> None:
    body: dict[str, Any] = {
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {
                        "id": "c2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "rainy"}]},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [WEATHER_TOOL],
        "tool_choice": "auto",
    }
    before = copy.deepcopy(body)
    request = to_messages_request(body, "m")
    assert body == before
    assert [m["role"] for m in request["messages"]] == ["user", "assistant", "user"]
    assert request["messages"][1]["content"] == [
        {"type": "tool_use", "id": "c1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "c2", "name": "get_weather", "input": {}},
    ]
    assert request["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": "sunny"},
        {
            "type": "tool_result",
            "tool_use_id": "c2",
            "content": [{"type": "text", "text": "rainy"}],
        },
        {"type": "text", "text": "Thanks"},
    ]
    assert request["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert request["tool_choice"] == {"type": "auto"}


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            None,
            {"type": "tool", "name": "get_weather"},
        ),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ],
)
def test_tool_choice(choice: Any, parallel: Any, expected: dict[str, Any]) -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "tools": [WEATHER_TOOL]}
    if choice is not None:
        body["tool_choice"] = choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    assert to_messages_request(body, "m")["tool_choice"] == expected


def test_images_by_url_and_by_data_url() -> None:
    content = [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    request = to_messages_request({"messages": [{"role": "user", "content": content}]}, "m")
    assert request["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
    ]


@pytest.mark.parametrize(
    ("message", "param"),
    [
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]},
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@"}}
                ],
            },
            "messages[0].content[0].image_url.url",
        ),
        (
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]},
            "messages[0].content[0]",
        ),
        (
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{nope"}}],
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"role": "tool", "content": "x"}, "messages[0].tool_call_id"),
        ({"role": "wizard", "content": "x"}, "messages[0].role"),
    ],
)
def test_client_mistakes_are_400_naming_the_field(message: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_messages_request({"messages": [message]}, "m")
    assert caught.value.param == param


def test_n_above_one_and_empty_messages_are_rejected() -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_messages_request({"messages": [{"role": "user", "content": "x"}], "n": 2}, "m")
    assert caught.value.param == "n"
    with pytest.raises(InvalidRequest):
        to_messages_request({"messages": []}, "m")


def _message(content: list[dict[str, Any]], stop_reason: str, **usage: int) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 4, **usage},
    }


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_response_stop_reasons(stop_reason: str, finish: str) -> None:
    completion = to_chat_completion(
        _message([{"type": "text", "text": "Hi"}], stop_reason), model="m", created=1
    )
    assert completion["choices"][0]["finish_reason"] == finish


def test_response_text_tool_calls_and_usage() -> None:
    message = _message(
        [
            {"type": "text", "text": "Let me check."},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
        ],
        "tool_use",
        cache_read_input_tokens=5,
        cache_creation_input_tokens=1,
    )
    completion = to_chat_completion(message, model="claude-test", created=7)
    assert completion["id"] == "chatcmpl-msg_1"
    assert (completion["object"], completion["created"], completion["model"]) == (
        "chat.completion",
        7,
        "claude-test",
    )
    reply = completion["choices"][0]["message"]
    assert reply["content"] == "Let me check."
    assert reply["tool_calls"] == [
        {
            "id": "toolu_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]
    assert completion["usage"] == {
        "prompt_tokens": 16,
        "completion_tokens": 4,
        "total_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 5},
    }


def _translate(events: list[dict[str, Any]], include_usage: bool = False) -> list[dict[str, Any]]:
    translator = ChunkTranslator(model="claude-test", created=3, include_usage=include_usage)
    chunks = [chunk for event in events for chunk in translator.feed(event)]
    translator.finish()
    return chunks


def test_stream_text_events() -> None:
    message = _message([{"type": "text", "text": "Hello there friend"}], "end_turn")
    chunks = _translate(stream_events(message), include_usage=True)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert {c["id"] for c in chunks} == {"chatcmpl-msg_1"}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello there friend"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}


def test_stream_tool_calls_are_numbered_among_tool_calls_only() -> None:
    message = _message(
        [
            {"type": "text", "text": "Checking."},
            {
                "type": "tool_use",
                "id": "toolu_a",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
            {"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": {"zone": "CET"}},
        ],
        "tool_use",
    )
    chunks = _translate(stream_events(message))
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for call in chunk["choices"][0]["delta"].get("tool_calls", []):
            if "id" in call:
                assert call["type"] == "function" and call["function"]["arguments"] == ""
                calls[call["index"]] = {
                    "id": call["id"],
                    "name": call["function"]["name"],
                    "args": "",
                }
            else:
                calls[call["index"]]["args"] += call["function"]["arguments"]
    assert calls == {
        0: {"id": "toolu_a", "name": "get_weather", "args": '{"city":"Paris"}'},
        1: {"id": "toolu_b", "name": "get_time", "args": '{"zone":"CET"}'},
    }
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert all(orjson.dumps(c) for c in chunks)


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("overloaded_error", UpstreamFailed),
        ("rate_limit_error", RateLimited),
        ("invalid_request_error", UpstreamRejected),
        ("api_error", UpstreamFailed),
    ],
)
def test_stream_error_event_raises_the_mapped_error(kind: str, error: type[Exception]) -> None:
    translator = ChunkTranslator(model="m", created=1, provider="claude", secret="sk-secret")
    event = {"type": "error", "error": {"type": kind, "message": "trouble with sk-secret"}}
    with pytest.raises(error) as caught:
        translator.feed(event)
    assert "sk-secret" not in str(caught.value)
    assert "claude" in str(caught.value)
    if kind == "overloaded_error":
        assert caught.value.status == 503  # type: ignore[attr-defined]


def test_stream_cut_short_is_an_upstream_failure() -> None:
    events = stream_events(_message([{"type": "text", "text": "Hi"}], "end_turn"))
    translator = ChunkTranslator(model="m", created=1)
    for event in events[:-1]:
        translator.feed(event)
    with pytest.raises(UpstreamFailed):
        translator.finish()


CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
}


def test_json_schema_response_format_becomes_one_forced_tool() -> None:
    body = {
        "messages": [{"role": "user", "content": "Largest city?"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "c", "schema": CITY_SCHEMA},
        },
    }
    request = to_messages_request(body, "m")
    assert request["tools"] == [
        {
            "name": JSON_TOOL,
            "description": "Give your answer as this tool's input.",
            "input_schema": CITY_SCHEMA,
        }
    ]
    assert request["tool_choice"] == {"type": "tool", "name": JSON_TOOL}
    json_object = {**body, "response_format": {"type": "json_object"}}
    assert to_messages_request(json_object, "m")["tools"][0]["input_schema"] == {"type": "object"}
    assert "tools" not in to_messages_request({**body, "response_format": {"type": "text"}}, "m")


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [WEATHER_TOOL]}, "response_format"),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"schema": {"type": "array"}},
                }
            },
            "response_format.json_schema.schema",
        ),
    ],
)
def test_json_mode_mistakes_are_400(extra: dict[str, Any], param: str) -> None:
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_object"},
    }
    with pytest.raises(InvalidRequest) as caught:
        to_messages_request({**body, **extra}, "m")
    assert caught.value.param == param


def test_json_answer_comes_back_as_content() -> None:
    call = {"type": "tool_use", "id": "toolu_1", "name": JSON_TOOL, "input": {"city": "Tokyo"}}
    message = unwrap_json_answer(_message([call], "tool_use"))
    completion = to_chat_completion(message, model="m", created=1)
    assert completion["choices"][0]["message"]["content"] == '{"city":"Tokyo"}'
    assert "tool_calls" not in completion["choices"][0]["message"]
    assert completion["choices"][0]["finish_reason"] == "stop"
    translator = ChunkTranslator(model="m", created=1, json_answer=True)
    chunks = [c for e in stream_events(_message([call], "tool_use")) for c in translator.feed(e)]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == '{"city":"Tokyo"}'
    assert all("tool_calls" not in c["choices"][0]["delta"] for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
