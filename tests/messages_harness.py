"""Patchbay serving Anthropic's Messages API over three kinds, and checks of what it sends.

One gateway fronts `echo`, an `openai` provider at the fake OpenAI upstream and an
`anthropic` provider at the fake Anthropic upstream; `read_events` reads a raw SSE
answer and `check_order` holds it to the documented Messages event order.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anthropic
import pydantic
from anthropic.types import RawMessageStreamEvent

from tests.fakes.anthropic_server import API_KEY as ANTHROPIC_KEY
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import API_KEY as OPENAI_KEY
from tests.fakes.openai_server import FakeOpenAI
from tests.harness import gateway, write_config

# The model each kind is asked through, and what its text answer to "Hi" reads.
TARGETS = {"anthropic": "claude/claude-test", "openai": "up/gpt-test", "echo": "echo/echo-1"}
HI_ANSWERS = {"anthropic": "Hello! You said: Hi", "openai": "upstream says: Hi", "echo": "Hi"}
WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
EVENTS = pydantic.TypeAdapter(RawMessageStreamEvent)


@dataclass
class Stack:
    url: str
    openai: FakeOpenAI
    anthropic: FakeAnthropic

    def client(self, key: str = "client-key") -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key=key, max_retries=0, timeout=20)


def providers(openai_url: str, anthropic_url: str, failures: int = 1000) -> dict[str, Any]:
    """Every kind; `failures` in a minute put a provider in a minute's cooldown."""
    return {
        "defaults": {
            "provider": "echo",
            "timeout": 5,
            "retries": 0,
            "cooldown": {"failures": failures, "window": 60, "duration": 60},
        },
        "providers": {
            "echo": {"kind": "echo", "models": ["echo-1"]},
            "up": {
                "kind": "openai",
                "base_url": openai_url,
                "api_key": "${FAKE_UPSTREAM_KEY}",
                "models": ["gpt-test", "reject-400", "fail-500", "midstream-error"],
            },
            "claude": {
                "kind": "anthropic",
                "base_url": anthropic_url,
                "api_key": "${FAKE_ANTHROPIC_KEY}",
                "headers": {"anthropic-beta": "patchbay-test"},
                "models": ["claude-test", "bad", "broken", "midstream-error", "truncated"],
            },
        },
    }


@contextmanager
def messages_stack(
    directory: Path,
    server: dict[str, Any] | None = None,
    failures: int = 1000,
    routes: dict[str, Any] | None = None,
) -> Iterator[Stack]:
    """The stack on `directory`: server.yaml from `server`, routes.yaml the shipped one
    unless `routes` is given."""
    environ = {"FAKE_UPSTREAM_KEY": OPENAI_KEY, "FAKE_ANTHROPIC_KEY": ANTHROPIC_KEY}
    with FakeOpenAI().in_thread() as openai, FakeAnthropic().in_thread() as claude:
        configured = providers(openai.url, claude.url, failures)
        write_config(directory, configured, routes=routes, server=server)
        with gateway(directory, environ=environ) as url:
            yield Stack(url, openai, claude)


def post(
    url: str, path: str, body: bytes | dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One raw POST: (status, lower-case headers, body)."""
    parts = urlsplit(url)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=20)
    try:
        connection.request("POST", path, body=data, headers={**sent, **(headers or {})})
        response = connection.getresponse()
        got = {k.lower(): v for k, v in response.getheaders()}
        return response.status, got, response.read()
    finally:
        connection.close()


def read_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) for each event of a raw SSE body; every event must be named."""
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        assert set(lines) == {"event", "data"}, block
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def check_order(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Hold a Messages stream to its documented order; return its blocks' types.

    message_start once; per block content_block_start, its deltas (of the block's
    kind), content_block_stop; message_delta with a stop reason and usage; message_stop.
    Each event must also parse as the SDK's own event type.
    """
    for name, data in events:
        assert data["type"] == name
        if name != "ping":
            EVENTS.validate_python(data)
    names = [name for name, _ in events if name != "ping"]
    datas = [data for name, data in events if name != "ping"]
    assert names[0] == "message_start" and names.count("message_start") == 1
    assert names[-2:] == ["message_delta", "message_stop"], names
    assert datas[-2]["delta"]["stop_reason"] is not None
    assert isinstance(datas[-2]["usage"]["output_tokens"], int)
    kinds: list[str] = []
    at = 1
    while at < len(names) - 2:
        assert names[at] == "content_block_start", names
        index, block = datas[at]["index"], datas[at]["content_block"]
        assert index == len(kinds)
        kinds.append(block["type"])
        delta = "text_delta" if block["type"] == "text" else "input_json_delta"
        at += 1
        while names[at] == "content_block_delta":
            assert datas[at]["index"] == index and datas[at]["delta"]["type"] == delta
            at += 1
        assert names[at] == "content_block_stop" and datas[at]["index"] == index, names
        at += 1
    return kinds
