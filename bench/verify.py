"""Before any load: check that a target answers the benchmark request correctly.

wrk only sees status codes; a proxy that answered 200 with a broken body or a stream
cut short would look fast. One request of each kind is checked against the text the
fake upstream sends.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

from upstream import TEXT


class WrongAnswer(RuntimeError):
    """A target answered the benchmark request with something other than the upstream's text."""


def chat_body(model: str, stream: bool) -> bytes:
    """The request body chat.lua sends (same model, same flag)."""
    return json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": "Say twenty words."}],
            "stream": stream,
        }
    ).encode()


def messages_body(model: str) -> bytes:
    """The streamed Messages request chat.lua sends with BENCH_FORMAT=messages."""
    return json.dumps(
        {
            "model": model,
            "max_tokens": 256,
            "messages": [{"role": "user", "content": "Say twenty words."}],
            "stream": True,
        }
    ).encode()


def _post(port: int, path: str, body: bytes, api_key: str) -> tuple[int, str, bytes]:
    headers = {"Content-Type": "application/json", "anthropic-version": "2023-06-01"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def check_completion(port: int, path: str, model: str, api_key: str = "") -> None:
    """A non-stream request returns 200 and the upstream's message text."""
    status, _, body = _post(port, path, chat_body(model, stream=False), api_key)
    if status != 200:
        raise WrongAnswer(f"non-stream answered {status}: {body[:300]!r}")
    content = json.loads(body)["choices"][0]["message"]["content"]
    if content != TEXT:
        raise WrongAnswer(f"non-stream content differs: {content!r}")


def check_cache_hit(port: int, path: str, model: str, api_key: str = "") -> None:
    """Patchbay's cache-hit scenario: the cached model answers the upstream's text, and
    the same request again comes from the response cache."""
    check_completion(port, path, model, api_key)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, body=chat_body(model, stream=False), headers=headers)
        response = connection.getresponse()
        response.read()
        cache = response.getheader("x-patchbay-cache")
    finally:
        connection.close()
    if cache != "HIT":
        raise WrongAnswer(f"the second request to {model} was not a cache hit: {cache!r}")


def check_stream(port: int, path: str, model: str, api_key: str = "") -> None:
    """A stream request returns 200, text/event-stream, all 20 deltas, then [DONE]."""
    status, content_type, body = _post(port, path, chat_body(model, stream=True), api_key)
    if status != 200 or not content_type.startswith("text/event-stream"):
        raise WrongAnswer(f"stream answered {status} {content_type}: {body[:300]!r}")
    data = [
        line[len(b"data:") :].strip() for line in body.splitlines() if line.startswith(b"data:")
    ]
    if not data or data[-1] != b"[DONE]":
        raise WrongAnswer(f"stream did not end with [DONE]: {body[-300:]!r}")
    deltas = [_delta_text(json.loads(event)) for event in data[:-1]]
    if "".join(deltas) != TEXT:
        raise WrongAnswer(f"stream text differs: {''.join(deltas)!r}")


def _delta_text(chunk: dict[str, Any]) -> str:
    # A usage-only chunk has no choices; it adds no text.
    for choice in chunk.get("choices") or []:
        return str(choice.get("delta", {}).get("content") or "")
    return ""


def check_messages_stream(port: int, path: str, model: str, api_key: str = "") -> None:
    """A Messages stream returns 200, named events from message_start to message_stop in
    order, and text deltas that join into the upstream's text."""
    status, content_type, body = _post(port, path, messages_body(model), api_key)
    if status != 200 or not content_type.startswith("text/event-stream"):
        raise WrongAnswer(f"messages stream answered {status} {content_type}: {body[:300]!r}")
    events = [block.split(b"\n", 1) for block in body.strip().split(b"\n\n")]
    names = [head.removeprefix(b"event: ").decode() for head, _ in events]
    expected = ["message_start", "content_block_start", "content_block_stop", "message_delta"]
    if [n for n in names if n != "content_block_delta"] != [*expected, "message_stop"]:
        raise WrongAnswer(f"messages stream events out of order: {names}")
    datas = [json.loads(data.removeprefix(b"data: ")) for _, data in events]
    text = "".join(d["delta"].get("text", "") for d in datas if d["type"] == "content_block_delta")
    if text != TEXT:
        raise WrongAnswer(f"messages stream text differs: {text!r}")
