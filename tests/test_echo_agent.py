"""The echo kind playing an agent: tool calls whose arguments fit the tool's schema,
structured output, stop, max_tokens, n and seed; checked through the OpenAI SDK and
against OpenAI's own response schemas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import openai
import pytest

from tests.harness import gateway, write_config
from tests.openapi_schemas import validate
from tests.pages_harness import fetch

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 2},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
                "unit": {"enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "days"],
            "additionalProperties": False,
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time"}}  # no parameters at all

# Shapes that SDKs and Pydantic produce: $defs and $ref, Optional as anyOf with null,
# nested arrays of objects, formats, allOf, exclusive bounds, multipleOf, a recursion.
SCHEMAS: list[dict[str, Any]] = [
    {
        "$defs": {
            "Address": {
                "type": "object",
                "properties": {"street": {"type": "string"}, "zip": {"type": "string"}},
                "required": ["street", "zip"],
            }
        },
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 5},
            "age": {"type": "integer", "exclusiveMinimum": 17, "exclusiveMaximum": 19},
            "home": {"$ref": "#/$defs/Address"},
            "nickname": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "scores": {"type": "array", "items": {"type": "number"}, "minItems": 3},
        },
        "required": ["name", "age", "home", "scores"],
    },
    {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "id": {"type": "string", "format": "uuid"},
            "step": {"type": "number", "multipleOf": 5, "minimum": 11, "maximum": 29},
            "flags": {"type": "array", "items": {"type": "boolean"}, "maxItems": 0},
            "tags": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 3,
                "uniqueItems": True,
            },
            "kind": {"const": "point"},
        },
        "required": ["when", "id", "step", "flags", "tags", "kind"],
    },
    {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"properties": {"b": {"type": ["null", "boolean"]}}, "required": ["b"]},
        ]
    },
    {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
                "required": ["label"],
            }
        },
        "$ref": "#/$defs/Node",
    },
]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = write_config(
        tmp_path_factory.mktemp("echo") / "cfg",
        {"providers": {"echo": {"kind": "echo", "models": ["echo-1"]}}},
    )
    with gateway(config) as base:
        yield base


@pytest.fixture
def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=20)


def ask(client: openai.OpenAI, text: str, **extra: Any) -> dict[str, Any]:
    """The raw JSON answer, checked against OpenAI's own response schema."""
    raw = client.chat.completions.with_raw_response.create(
        model="echo/echo-1", messages=[{"role": "user", "content": text}], **extra
    )
    answer: dict[str, Any] = json.loads(raw.content)
    validate("CreateChatCompletionResponse", answer)
    return answer


def streamed(client: openai.OpenAI, text: str, **extra: Any) -> list[dict[str, Any]]:
    """The raw chunks of a streamed answer, each checked against OpenAI's chunk schema."""
    stream = client.chat.completions.create(
        model="echo/echo-1",
        messages=[{"role": "user", "content": text}],
        stream=True,
        stream_options={"include_usage": True},
        **extra,
    )
    chunks = [chunk.model_dump(exclude_unset=True) for chunk in stream]
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    return chunks


def test_a_message_naming_a_tool_gets_a_call_whose_arguments_fit_its_schema(
    client: openai.OpenAI,
) -> None:
    answer = ask(client, "What is the weather in Paris? Use get_weather.", tools=[WEATHER, TIME])
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather"
    assert call["id"].startswith("call_")
    arguments = json.loads(call["function"]["arguments"])
    jsonschema.validate(arguments, WEATHER["function"]["parameters"])
    assert arguments["city"] == "What is the weather in Paris? Use get_weather."


def test_tool_choice_decides_whether_and_which_tool_is_called(client: openai.OpenAI) -> None:
    def called(text: str, **extra: Any) -> list[str]:
        message = ask(client, text, tools=[WEATHER, TIME], **extra)["choices"][0]["message"]
        return [c["function"]["name"] for c in message.get("tool_calls") or []]

    assert called("hello") == []  # auto, and no tool named: words
    assert called("hello", tool_choice="required") == ["get_weather"]  # the first tool
    forced = {"type": "function", "function": {"name": "get_time"}}
    assert called("use get_weather", tool_choice=forced) == ["get_time"]
    assert called("use get_weather", tool_choice="none") == []
    assert called("get_time, then get_weather") == ["get_time", "get_weather"]  # as named
    assert called("get_time, then get_weather", parallel_tool_calls=False) == ["get_time"]
    assert (
        json.loads(
            ask(client, "get_time", tools=[TIME])["choices"][0]["message"]["tool_calls"][0][
                "function"
            ]["arguments"]
        )
        == {}
    )


def test_after_a_tool_result_auto_answers_with_the_result(client: openai.OpenAI) -> None:
    first = ask(client, "weather? get_weather", tools=[WEATHER])["choices"][0]["message"]
    messages: list[Any] = [
        {"role": "user", "content": "weather? get_weather"},
        first,
        {"role": "tool", "tool_call_id": first["tool_calls"][0]["id"], "content": "Sunny, 21 C"},
    ]
    answer = client.chat.completions.create(model="echo/echo-1", messages=messages, tools=[WEATHER])
    assert answer.choices[0].message.content == "Sunny, 21 C"
    assert answer.choices[0].finish_reason == "stop"


def test_a_forced_tool_that_is_not_offered_is_a_400(url: str) -> None:
    status, _, body = fetch(
        url + "/v1/chat/completions",
        "POST",
        {
            "model": "echo/echo-1",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "function": {"name": "nope"}},
        },
    )
    assert status == 400
    assert json.loads(body)["error"]["param"] == "tool_choice"


@pytest.mark.parametrize("schema", SCHEMAS, ids=["pydantic", "formats", "allof", "recursive"])
def test_arguments_and_structured_output_fit_the_schemas_sdks_send(
    client: openai.OpenAI, schema: dict[str, Any]
) -> None:
    tool = {"type": "function", "function": {"name": "record", "parameters": schema}}
    message = ask(client, "please record", tools=[tool])["choices"][0]["message"]
    jsonschema.validate(json.loads(message["tool_calls"][0]["function"]["arguments"]), schema)
    answer_format = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema}}
    content = ask(client, "anything", response_format=answer_format)["choices"][0]["message"]
    jsonschema.validate(json.loads(content["content"]), schema)


def test_json_object_answers_an_object(client: openai.OpenAI) -> None:
    content = ask(client, "hi there", response_format={"type": "json_object"})
    assert json.loads(content["choices"][0]["message"]["content"]) == {"message": "hi there"}


def test_schemas_echo_cannot_satisfy_are_a_400_naming_the_place(url: str) -> None:
    def status_of(schema: Any) -> tuple[int, dict[str, Any]]:
        tool = {"type": "function", "function": {"name": "t", "parameters": schema}}
        status, _, body = fetch(
            url + "/v1/chat/completions",
            "POST",
            {
                "model": "echo/echo-1",
                "messages": [{"role": "user", "content": "t"}],
                "tools": [tool],
            },
        )
        return status, json.loads(body)["error"]

    status, error = status_of({"type": "object", "properties": {"x": {"type": 5}}})
    assert status == 400 and error["param"] == "tools[0].function.parameters"
    status, error = status_of({"$ref": "https://example.com/schema.json"})
    assert status == 400 and error["code"] == "unsupported_schema"
    status, error = status_of({"type": "string", "pattern": "^[0-9]+$"})
    assert status == 400 and error["code"] == "unsupported_schema"
    assert "pattern" in error["message"]
    # Schemas that would take gigabytes are refused before anything big is made.
    for huge in (
        {"type": "array", "minItems": 10**9},
        {"type": "string", "minLength": 10**9},
        {"type": "array", "minItems": 1000, "items": {"type": "array", "minItems": 1000}},
    ):
        status, error = status_of(huge)
        assert status == 400 and error["code"] == "unsupported_schema", huge


def test_stream_sends_tool_calls_as_argument_deltas(client: openai.OpenAI) -> None:
    whole = ask(client, "get_weather for Oslo", tools=[WEATHER])["choices"][0]["message"]
    chunks = streamed(client, "get_weather for Oslo", tools=[WEATHER])
    opening = chunks[0]["choices"][0]["delta"]
    assert opening["role"] == "assistant"
    head = opening["tool_calls"][0]
    assert head["function"] == {"name": "get_weather", "arguments": ""}
    assert head["id"] == whole["tool_calls"][0]["id"]
    pieces = [
        c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for c in chunks[1:]
        if c["choices"] and c["choices"][0]["delta"].get("tool_calls")
    ]
    assert len(pieces) > 3  # in fragments, as OpenAI streams them
    assert "".join(pieces) == whole["tool_calls"][0]["function"]["arguments"]
    ends = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert ends[-1] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == len(pieces)


def test_the_sdk_stream_helper_assembles_the_call(client: openai.OpenAI) -> None:
    with client.chat.completions.stream(
        model="echo/echo-1",
        messages=[{"role": "user", "content": "get_weather please"}],
        tools=[WEATHER],
    ) as stream:
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    jsonschema.validate(json.loads(call.function.arguments), WEATHER["function"]["parameters"])


def test_same_request_same_answer_and_seed_varies_it(client: openai.OpenAI) -> None:
    wide = {
        "type": "function",
        "function": {
            "name": "pick",
            "parameters": {
                "type": "object",
                "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 10**9}},
                "required": ["n"],
            },
        },
    }

    def picked(**extra: Any) -> list[int]:
        answer = ask(client, "pick", tools=[wide], **extra)
        return [
            json.loads(c["message"]["tool_calls"][0]["function"]["arguments"])["n"]
            for c in answer["choices"]
        ]

    assert picked(seed=1) == picked(seed=1)
    assert picked() == picked()
    assert picked(seed=1) != picked(seed=2)
    three = picked(seed=1, n=3)
    assert len(three) == 3 and len(set(three)) == 3  # each choice draws its own


def test_stop_max_tokens_and_n_shape_the_text(client: openai.OpenAI) -> None:
    stopped = ask(client, "one two. three four", stop=["."])["choices"][0]
    assert stopped["message"]["content"] == "one two" and stopped["finish_reason"] == "stop"
    cut = ask(client, "one two three four", max_tokens=2)["choices"][0]
    assert cut["message"]["content"] == "one two" and cut["finish_reason"] == "length"
    many = ask(client, "hello", n=3)
    assert [c["index"] for c in many["choices"]] == [0, 1, 2]
    assert many["usage"]["completion_tokens"] == 3
    chunks = streamed(client, "a b; c", n=2, stop=";")
    for index in (0, 1):
        text = "".join(
            c["choices"][0]["delta"].get("content") or ""
            for c in chunks
            if c["choices"] and c["choices"][0]["index"] == index
        )
        assert text == "a b"
    assert chunks[-1]["usage"]["completion_tokens"] == 4
