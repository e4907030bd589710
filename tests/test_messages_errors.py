"""/v1/messages failures: Anthropic's error shape before the first byte, `event: error`
after it, the SDK's own exceptions, and no 500 for anything a client sends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from anthropic.types import BetaErrorResponse

from tests.messages_harness import TARGETS, Stack, messages_stack, post, read_events


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with messages_stack(tmp_path_factory.mktemp("messages-errors") / "cfg") as running:
        yield running


def anthropic_error(status: int, body: bytes) -> dict[str, Any]:
    """The error object of an Anthropic-shaped error answer (checked with the SDK's type)."""
    data = json.loads(body)
    BetaErrorResponse.model_validate(data)
    assert set(data) == {"type", "error"} and data["type"] == "error"
    assert set(data["error"]) == {"type", "message"}
    return data["error"]  # type: ignore[no-any-return]


def ask(model: str, content: Any = "Hi", **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 50,
        "messages": [{"role": "user", "content": content}],
        **extra,
    }


UNKNOWN_CALL = [
    {"role": "user", "content": "Weather?"},
    {"role": "assistant", "content": [{"type": "text", "text": "Let me look."}]},
    {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_nowhere", "content": "x"}],
    },
]


@pytest.mark.parametrize("kind", TARGETS)
@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"model": "x", "messages": [', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        ({"model": "M", "messages": [{"role": "user", "content": "Hi"}]}, "max_tokens"),
        ({**ask("M"), "messages": []}, "messages"),
        ({**ask("M"), "messages": [{"role": "system", "content": "x"}]}, "role"),
        (ask("M", [{"type": "text"}]), "text"),
        (ask("M", [{"type": "image", "source": {"type": "base64"}}]), "media_type"),
        ({**ask("M"), "tool_choice": {"type": "tool"}}, "tool_choice.name"),
        ({**ask("M"), "tools": [{"name": "t"}]}, "input_schema"),
        ({**ask("M"), "temperature": 3}, "temperature"),
        ({**ask("M"), "stream": True, "max_tokens": 0}, "max_tokens"),
    ],
)
def test_bad_requests_are_400s_in_anthropics_shape(
    kind: str, body: bytes | dict[str, Any], says: str, stack: Stack
) -> None:
    if isinstance(body, dict):
        body = json.loads(json.dumps(body).replace('"M"', json.dumps(TARGETS[kind])))
    status, headers, raw = post(stack.url, "/v1/messages", body)
    error = anthropic_error(status, raw)
    assert status == 400 and error["type"] == "invalid_request_error"
    assert says in error["message"]
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize("kind", TARGETS)
@pytest.mark.parametrize(
    ("content", "says"),
    [
        ([{"type": "hologram", "text": "x"}], "hologram"),
        ([{"type": "tool_use", "id": "t", "name": "n", "input": {}}], "tool_use"),
    ],
)
def test_unknown_and_misplaced_blocks_are_400s(
    kind: str, content: Any, says: str, stack: Stack
) -> None:
    status, _, raw = post(stack.url, "/v1/messages", ask(TARGETS[kind], content))
    error = anthropic_error(status, raw)
    assert status == 400 and error["type"] == "invalid_request_error"
    assert says in error["message"]


@pytest.mark.parametrize("kind", TARGETS)
def test_a_tool_result_for_an_unknown_call_is_a_400(kind: str, stack: Stack) -> None:
    body = {**ask(TARGETS[kind]), "messages": UNKNOWN_CALL}
    status, _, raw = post(stack.url, "/v1/messages", body)
    error = anthropic_error(status, raw)
    assert status == 400 and error["type"] == "invalid_request_error"
    assert "toolu_nowhere" in error["message"]


@pytest.mark.parametrize(
    ("model", "exception", "status", "type_"),
    [
        ("nobody/nothing", anthropic.NotFoundError, 404, "not_found_error"),
        ("claude/bad", anthropic.BadRequestError, 400, "invalid_request_error"),
        ("up/reject-400", anthropic.BadRequestError, 400, "invalid_request_error"),
        ("up/fail-500", anthropic.InternalServerError, 502, "api_error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_errors_raise_the_sdks_own_exceptions(
    model: str, exception: type[anthropic.APIStatusError], status: int, type_: str,
    stream: bool, stack: Stack,
) -> None:  # fmt: skip
    client = stack.client()
    with pytest.raises(exception) as caught:
        if stream:
            with client.messages.stream(**ask(model)) as events:
                events.until_done()
        else:
            client.messages.create(**ask(model))
    assert caught.value.status_code == status
    assert caught.value.body["error"]["type"] == type_  # type: ignore[index]


@pytest.mark.parametrize("model", ["claude/midstream-error", "up/midstream-error"])
def test_a_failure_mid_stream_is_an_error_event(model: str, stack: Stack) -> None:
    status, _, raw = post(stack.url, "/v1/messages", {**ask(model), "stream": True})
    assert status == 200
    events = read_events(raw)
    assert events[0][0] == "message_start"
    name, data = events[-1]
    assert name == "error" and data["type"] == "error"
    BetaErrorResponse.model_validate(data)
    assert data["error"]["type"] in ("overloaded_error", "api_error")
    with (
        pytest.raises(anthropic.APIStatusError),
        stack.client().messages.stream(**ask(model)) as stream,
    ):
        stream.until_done()


def test_a_stream_cut_short_upstream_ends_in_an_error_event(stack: Stack) -> None:
    status, _, raw = post(stack.url, "/v1/messages", {**ask("claude/truncated"), "stream": True})
    assert status == 200
    name, data = read_events(raw)[-1]
    assert name == "error" and "message_stop" in data["error"]["message"]


def test_client_keys_come_in_x_api_key_or_bearer(tmp_path: Path) -> None:
    server = {"auth": {"required": True, "keys": [{"name": "ci", "key": "k-anthropic-1"}]}}
    with messages_stack(tmp_path / "cfg", server=server) as stack:
        assert stack.client("k-anthropic-1").messages.create(**ask("echo/echo-1")).content
        status, _, _ = post(
            stack.url, "/v1/messages", ask("echo/echo-1"), {"authorization": "Bearer k-anthropic-1"}
        )
        assert status == 200
        with pytest.raises(anthropic.AuthenticationError) as caught:
            stack.client("wrong").messages.create(**ask("echo/echo-1"))
        assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
        status, _, raw = post(stack.url, "/v1/messages", ask("echo/echo-1"))
        assert status == 401
        assert "x-api-key" in anthropic_error(status, raw)["message"]
