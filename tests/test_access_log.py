"""The access log: every field docs/observability.md documents, in text and in JSON,
switched live; only a key's name is ever written."""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ConsoleLines
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import gateway, write_config

DOCS = Path(__file__).resolve().parent.parent / "docs" / "observability.md"
ADMIN = "admin-key-for-access-log"
ALICE_KEY = "sk-alice-for-access-log"


def documented_fields() -> list[str]:
    """The field column of the access log's table in docs/observability.md."""
    text = DOCS.read_text()
    table = text.split("| field | what it is |", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.MULTILINE)


def post(url: str, path: str, body: dict[str, Any], key: str, request_id: str = "") -> bytes:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    if request_id:
        headers["X-Request-ID"] = request_id
    request = urllib.request.Request(url + path, json.dumps(body).encode(), headers)
    with urllib.request.urlopen(request, timeout=20) as resp:
        return bytes(resp.read())


def stream(url: str, request_id: str) -> None:
    body = {
        "model": "up/gpt-test",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert b"[DONE]" in post(url, "/v1/chat/completions", body, ALICE_KEY, request_id)


def line_of(console_lines: ConsoleLines, request_id: str) -> str:
    """The request's line; a stream's is written just after its last byte went out."""
    for _ in range(100):
        for line in console_lines.lines:
            if request_id in line and "access" in line:
                return line
        threading.Event().wait(0.05)
    raise AssertionError(f"no access-log line for {request_id}")


def test_every_documented_field_is_written_in_text_and_in_json(
    tmp_path: Path, console_lines: ConsoleLines
) -> None:
    fields = documented_fields()
    assert len(fields) >= 15 and "ttft_ms" in fields and "served" in fields
    with FakeOpenAI().in_thread() as fake:
        up = {"kind": "openai", "base_url": fake.url, "api_key": API_KEY, "models": ["gpt-test"]}
        server = {
            "watch": {"enabled": False},
            "request_logging": True,
            "log_format": "text",
            "auth": {"admin_key": ADMIN, "keys": [{"name": "alice", "key": ALICE_KEY}]},
        }
        cfg = write_config(tmp_path, {"providers": {"up": up}}, server=server)
        with gateway(cfg) as url:
            stream(url, "log-text-1")
            text = line_of(console_lines, "log-text-1")
            server["log_format"] = "json"
            (cfg / "config" / "server.yaml").write_text(yaml.safe_dump(server))
            post(url, "/admin/reload", {}, ADMIN)
            stream(url, "log-json-1")
            entry = json.loads(line_of(console_lines, "log-json-1"))

    assert text.split("access: ", 1)[1].startswith("POST /v1/chat/completions 200 ")
    for name in fields[4:]:  # method, path, status and ms lead the line unnamed
        assert f" {name}=" in text, name
    assert " key=alice " in text and " served=up/gpt-test " in text
    assert " prompt_tokens=5 " in text and " completion_tokens=7" in text
    assert set(fields) <= set(entry), set(fields) - set(entry)
    assert entry["logger"] == "patchbay.access" and entry["id"] == "log-json-1"
    assert entry["key"] == "alice" and entry["provider"] == "up"
    assert entry["model"] == entry["served"] == "up/gpt-test"
    assert entry["attempts"] == 1 and entry["status"] == 200
    assert entry["prompt_tokens"] == 5 and entry["completion_tokens"] == 7
    assert 0 < entry["ttft_ms"] <= entry["ms"] and 0 < entry["upstream_ms"] <= entry["ms"]
    assert ALICE_KEY not in text + json.dumps(entry)
