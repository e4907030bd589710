"""X-Request-ID end to end: the client's own (when safe) or a generated one, returned on
every answer and sent to the upstream; anything unsafe is replaced, never echoed."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import gateway, write_config

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, FakeOpenAI]]:
    with FakeOpenAI(("gpt-test", "fail-500")).in_thread() as fake:
        up = {"kind": "openai", "base_url": fake.url, "api_key": API_KEY}
        providers = {
            "defaults": {"retries": 0, "timeout": 5},
            "providers": {"up": {**up, "models": ["gpt-test", "fail-500"]}},
            "aliases": {"steady": ["up/fail-500", "up/gpt-test"]},
        }
        with gateway(write_config(tmp_path, providers)) as url:
            yield url, fake


def raw_chat(url: str, model: str, request_id: bytes | None) -> tuple[int, dict[str, str]]:
    """POST a chat over a plain socket, so that any header bytes can be sent."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]})
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: patchbay\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    )
    if request_id is not None:
        head += b"X-Request-ID: " + request_id + b"\r\n"
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(head + b"\r\n" + body.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, *lines = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


def sent_upstream(fake: FakeOpenAI) -> list[str]:
    return [r.headers.get("X-Request-ID", "") for r in fake.requests]


def test_the_clients_request_id_goes_upstream_and_comes_back(
    served: tuple[str, FakeOpenAI],
) -> None:
    url, fake = served
    given = "trace:web-42/req.7@eu=1+2"
    status, headers = raw_chat(url, "up/gpt-test", given.encode())
    assert status == 200 and headers["x-request-id"] == given
    assert sent_upstream(fake) == [given]


def test_a_generated_request_id_goes_upstream_with_every_attempt(
    served: tuple[str, FakeOpenAI],
) -> None:
    url, fake = served
    status, headers = raw_chat(url, "steady", None)  # up/fail-500 fails, up/gpt-test serves
    assert status == 200 and GENERATED.fullmatch(headers["x-request-id"])
    assert sent_upstream(fake) == [headers["x-request-id"]] * 2


@pytest.mark.parametrize(
    "bad",
    [
        b"x" * 10_240,  # far past 128 characters
        b"x" * 129,
        b"id\x01with\x02control",
        b"id\twith tab",
        b"<script>alert(1)</script>",
        b"caf\xe9",  # latin-1 bytes HTTP allows as obs-text
        b"a b",
    ],
)
def test_an_unsafe_request_id_is_replaced_not_echoed(
    served: tuple[str, FakeOpenAI], bad: bytes
) -> None:
    url, fake = served
    status, headers = raw_chat(url, "up/gpt-test", bad)
    if status == 400:  # the HTTP server refused the header itself: nothing was echoed
        assert bad.decode("latin-1") not in json.dumps(headers)
        assert fake.requests == []
        return
    assert status == 200
    assert GENERATED.fullmatch(headers["x-request-id"])
    assert sent_upstream(fake) == [headers["x-request-id"]]


def test_error_answers_carry_the_request_id_too(served: tuple[str, FakeOpenAI]) -> None:
    url, _ = served
    status, headers = raw_chat(url, "no-such-model", b"req-404")
    assert status == 404 and headers["x-request-id"] == "req-404"
