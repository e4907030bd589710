"""Chat completions through the official OpenAI SDK, against a fake upstream on loopback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import openai
import pytest

from engine.providers.echo import MAX_REPLY_CHARS
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.openapi_schemas import validate

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def post(
    url: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_non_stream_relays_upstream_and_names_who_served(
    client: openai.OpenAI, fake_openai: FakeOpenAI
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="up/gpt-test",
        messages=[{"role": "user", "content": "hi"}],
        seed=7,
        stop=["\n"],
        n=2,
        response_format={"type": "json_object"},
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "upstream says: hi"
    assert len(completion.choices) == 2
    assert raw.headers["x-patchbay-provider"] == "up"
    assert raw.headers["x-patchbay-model"] == "gpt-test"
    assert raw.headers["x-patchbay-attempts"] == "1"
    assert raw.headers["x-request-id"]
    validate("CreateChatCompletionResponse", json.loads(raw.content))
    sent = fake_openai.requests[-1]
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"  # upstream key, not the client's
    body = sent.json()
    assert (
        body["model"] == "gpt-test"
        and body["seed"] == 7
        and body["stop"] == ["\n"]
        and body["n"] == 2
    )
    assert body["response_format"] == {"type": "json_object"}


def test_stream_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="up/gpt-test",
        messages=[{"role": "user", "content": "stream me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "upstream says: stream me"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 12
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))


def test_streamed_tool_call_arguments_reassemble(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="up/gpt-test",
        messages=[{"role": "user", "content": "weather?"}],
        stream=True,
        tools=[WEATHER_TOOL],
        tool_choice="auto",
    )
    name, arguments, finish = "", "", None
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or []:
            name += call.function.name or "" if call.function else ""
            arguments += call.function.arguments or "" if call.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert name == "get_weather"
    assert json.loads(arguments) == {"city": "Paris"}
    assert finish == "tool_calls"


def test_echo_and_auto_answer_offline(client: openai.OpenAI) -> None:
    for model in ("echo/echo-1", "auto", "echo-1"):
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "ping"}]
        )
        assert reply.choices[0].message.content == "ping"
    stream = client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "a b c"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "a b c"


def test_echo_stops_at_max_tokens_and_at_its_reply_limit(client: openai.OpenAI) -> None:
    """Echo counts a word as a token; however large the message and `n`, each reply
    stops at MAX_REPLY_CHARS, so one request cannot make the worker build gigabytes."""
    said = [{"role": "user", "content": "one two three four"}]
    for limit in ({"max_tokens": 2}, {"max_completion_tokens": 2}):
        reply = client.chat.completions.create(model="echo/echo-1", messages=said, **limit)
        assert reply.choices[0].message.content == "one two"
        assert reply.choices[0].finish_reason == "length"
        assert reply.usage is not None and reply.usage.completion_tokens == 2
    chunks = list(
        client.chat.completions.create(
            model="echo/echo-1", messages=said, max_tokens=3, stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "one two three"
    assert chunks[-1].choices[0].finish_reason == "length"
    huge = [{"role": "user", "content": "x" * (4 << 20)}]  # 4 MiB, one "word"
    raw = client.chat.completions.with_raw_response.create(
        model="echo/echo-1", messages=huge, n=128
    )
    assert len(raw.content) < 128 * (MAX_REPLY_CHARS + 300)
    reply = raw.parse()
    assert {len(c.message.content or "") for c in reply.choices} == {MAX_REPLY_CHARS}
    assert {c.finish_reason for c in reply.choices} == {"length"}


def test_unknown_model_is_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model="nope/nothing", messages=[{"role": "user", "content": "x"}]
        )
    error = caught.value.body
    assert isinstance(error, dict) and error["code"] == "model_not_found"
    assert "up/gpt-test" in error["message"]  # suggestions come from the live snapshot
    validate("ErrorResponse", caught.value.response.json())


def test_malformed_json_is_400(gateway_url: str) -> None:
    status, _, body = post(gateway_url + "/v1/chat/completions", b'{"model": "auto", ')
    assert status == 400
    assert json.loads(body)["error"]["type"] == "invalid_request_error"


def test_missing_messages_names_the_param(client: openai.OpenAI, gateway_url: str) -> None:
    status, _, body = post(gateway_url + "/v1/chat/completions", b'{"model": "auto"}')
    assert status == 400
    assert json.loads(body)["error"]["param"] == "messages"
    status, _, body = post(
        gateway_url + "/v1/chat/completions", b'{"model": "auto", "messages": [{"role": "wizard"}]}'
    )
    assert status == 400 and json.loads(body)["error"]["param"] == "messages[0].role"


@pytest.mark.parametrize(
    ("extra", "param", "message"),
    [
        ({"tool_choice": "sometimes"}, "tool_choice", "must be none, auto, required or an object"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]},
            "tools[0].function.parameters",
            "must be object",
        ),
        (
            {"response_format": {"type": "json_schema"}},
            "response_format.json_schema",
            "Missing required parameter: 'response_format.json_schema'.",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
            "messages[0].content[0].text",
            "must be string",
        ),
    ],
    ids=["tool_choice", "parameters", "json_schema", "text-part"],
)
def test_malformed_options_are_refused_before_any_upstream(
    gateway_url: str, fake_openai: FakeOpenAI, extra: dict[str, Any], param: str, message: str
) -> None:
    body = {"model": "up/gpt-test", "messages": [{"role": "user", "content": "hi"}], **extra}
    status, _, raw = post(gateway_url + "/v1/chat/completions", json.dumps(body).encode())
    error = json.loads(raw)["error"]
    assert (status, error["param"], error["type"]) == (400, param, "invalid_request_error")
    assert message in error["message"]
    assert fake_openai.requests == []  # the upstream never saw it


def test_upstream_500_is_502_without_the_key(client: openai.OpenAI, gateway_url: str) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(
            model="up/fail-500", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 502
    status, headers, body = post(
        gateway_url + "/v1/chat/completions",
        b'{"model": "up/fail-500", "messages": [{"role": "user", "content": "x"}]}',
    )
    assert status == 502
    assert API_KEY.encode() not in body
    assert API_KEY not in json.dumps(headers)


def test_upstream_400_is_relayed(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="up/reject-400", messages=[{"role": "user", "content": "x"}]
        )
    assert "max_tokens is too large" in str(caught.value)


def test_upstream_429_relays_retry_after(gateway_url: str) -> None:
    status, headers, body = post(
        gateway_url + "/v1/chat/completions",
        b'{"model": "up/limit-429", "messages": [{"role": "user", "content": "x"}]}',
    )
    assert status == 429
    assert headers["retry-after"] == "7"
    assert json.loads(body)["error"]["code"] == "rate_limit_exceeded"


def test_oversized_body_is_413(gateway_url: str) -> None:
    big = (
        b'{"model": "auto", "messages": [{"role": "user", "content": "'
        + b"x" * (11 * 1024 * 1024)
        + b'"}]}'
    )
    status, _, body = post(gateway_url + "/v1/chat/completions", big)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "request_too_large"


def test_upstream_timeout_is_504(gateway_url: str) -> None:
    status, _, body = post(
        gateway_url + "/v1/chat/completions",
        b'{"model": "up/slow", "messages": [{"role": "user", "content": "x"}]}',
    )
    assert status == 504
    assert json.loads(body)["error"]["code"] == "upstream_timeout"


def test_wrong_method_is_405_with_allow(gateway_url: str) -> None:
    request = urllib.request.Request(gateway_url + "/v1/chat/completions", method="GET")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 405
    assert caught.value.headers["Allow"] == "POST"


def test_finished_streams_hand_their_upstream_connection_back(
    client: openai.OpenAI, fake_openai: FakeOpenAI
) -> None:
    """A stream read to its end leaves its connection in the pool for the next request."""
    for _ in range(3):
        stream = client.chat.completions.create(
            model="up/late-end", messages=[{"role": "user", "content": "again"}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    peers = {r.peer for r in fake_openai.requests if r.path.endswith("/chat/completions")}
    assert len(peers) == 1, peers
