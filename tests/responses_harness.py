"""A gateway for the Responses tests: echo, an `openai` provider served by translation
(`up`), the same fake asked natively (`native`), and an `anthropic` provider (`claude`)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai

from tests.fakes.anthropic_server import API_KEY as ANTHROPIC_KEY
from tests.fakes.openai_server import API_KEY as OPENAI_KEY
from tests.harness import gateway, write_config

TARGETS = ("up/gpt-test", "native/gpt-test", "claude/claude-test", "echo/echo-1")
WEATHER_TOOL: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


def providers(openai_url: str, anthropic_url: str, **extra: Any) -> dict[str, Any]:
    openai_kind = {"kind": "openai", "base_url": openai_url, "api_key": OPENAI_KEY}
    return {
        "defaults": {"provider": "echo", "timeout": 5, "retries": 0},
        "providers": {
            "echo": {"kind": "echo", "models": ["echo-1"]},
            "up": {**openai_kind, "models": ["gpt-test", "midstream-error", "fail-500"]},
            "native": {
                **openai_kind,
                "responses": "native",
                "models": ["gpt-test", "break-stream", "fail-500"],
            },
            "claude": {
                "kind": "anthropic",
                "base_url": anthropic_url,
                "api_key": ANTHROPIC_KEY,
                "models": ["claude-test"],
            },
        },
        **extra,
    }


@contextmanager
def responses_gateway(
    directory: Path,
    openai_url: str,
    anthropic_url: str,
    server: dict[str, Any] | None = None,
    **extra: Any,
) -> Iterator[str]:
    write_config(directory, providers(openai_url, anthropic_url, **extra), server=server)
    with gateway(directory) as url:
        yield url


def sdk(url: str, key: str = "client-key") -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=20)


def call(
    url: str, body: bytes | dict[str, Any], method: str = "POST", key: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-case headers, body) of one raw request."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(
        url, data=data if method == "POST" else None, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()
