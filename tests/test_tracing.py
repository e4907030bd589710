"""OpenTelemetry tracing: spans exported over OTLP/HTTP to a fake collector on loopback.

Patchbay serves a fake upstream (tests/fakes/openai_server.py) and exports to a fake
collector (tests/fakes/otlp_collector.py) that decodes each export with
opentelemetry-proto, as a real collector would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.config import ConfigInvalid, read_sources
from engine.handlers import WIRE_FORMATS
from engine.live.reload import build_snapshot
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.fakes.otlp_collector import CLIENT, SERVER, STATUS_ERROR, FakeCollector, Span
from tests.harness import gateway, write_config
from tests.reload_helpers import ADMIN_ENV, ADMIN_KEY, wait_for
from tests.test_chat import post
from tests.test_console import serving

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "the secret recipe is 42 parts basil"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
ECHO = {"providers": {"echo": {"kind": "echo", "models": ["echo-1"]}}}


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(("gpt-test", "fail-500")).in_thread() as fake:
        yield fake


@pytest.fixture
def collector() -> Iterator[FakeCollector]:
    with FakeCollector().in_thread() as fake:
        yield fake


def providers(fake: FakeOpenAI) -> dict[str, Any]:
    """`a` answers 500, `b` answers; `smart` falls back from the first to the second."""

    def upstream(model: str) -> dict[str, Any]:
        return {"kind": "openai", "base_url": fake.url, "api_key": API_KEY, "models": [model]}

    return {
        "defaults": {"provider": "echo", "retries": 0, "timeout": 2},
        "providers": {
            "echo": {"kind": "echo", "models": ["echo-1"]},
            "a": upstream("fail-500"),
            "b": upstream("gpt-test"),
        },
        "aliases": {"smart": ["a/fail-500", "b/gpt-test"]},
    }


def telemetry(collector: FakeCollector, **extra: Any) -> dict[str, Any]:
    return {"telemetry": {"endpoint": collector.endpoint, **extra}}


def chat(
    url: str, model: str = "smart", headers: dict[str, str] | None = None, **extra: Any
) -> tuple[int, dict[str, Any]]:
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], **extra}
    status, _, raw = post(url + "/v1/chat/completions", json.dumps(body).encode(), headers)
    return status, json.loads(raw) if not extra.get("stream") else {}


def by_kind(spans: list[Span], kind: int) -> list[Span]:
    return [s for s in spans if s.kind == kind]


def test_a_fallback_is_one_server_span_with_a_client_span_per_attempt(
    tmp_path: Path, upstream: FakeOpenAI, collector: FakeCollector
) -> None:
    write_config(tmp_path, providers(upstream), server=telemetry(collector))
    with gateway(tmp_path) as url:
        status, answer = chat(url, headers={"traceparent": TRACEPARENT})
    assert status == 200, answer
    spans = collector.wait_for(3)
    assert len(spans) == 3
    [server] = by_kind(spans, SERVER)
    failed, served = sorted(by_kind(spans, CLIENT), key=lambda s: s.attributes["patchbay.attempt"])

    # The client's trace goes on: same trace id, the server span under the client's span.
    assert (server.trace_id, server.parent_id) == (TRACE_ID, PARENT_ID)
    assert server.name == "chat smart"
    assert server.resource["service.name"] == "patchbay"
    attributes = server.attributes
    request_id = attributes.pop("patchbay.request_id")
    assert len(request_id) == 32
    assert attributes == {
        "http.request.method": "POST",
        "http.route": "/v1/chat/completions",
        "http.response.status_code": 200,
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "smart",
        "gen_ai.provider.name": "b",
        "gen_ai.response.model": "b/gpt-test",
        "gen_ai.response.id": answer["id"],
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": answer["usage"]["prompt_tokens"],
        "gen_ai.usage.output_tokens": answer["usage"]["completion_tokens"],
        "patchbay.attempts": 2,
    }

    # Both attempts are the server span's children, in the same trace.
    for span in (failed, served):
        assert (span.trace_id, span.parent_id) == (TRACE_ID, server.span_id)
        assert span.attributes["gen_ai.operation.name"] == "chat"
        assert span.attributes["server.address"] == "127.0.0.1"
        assert span.attributes["server.port"] == upstream.port
    assert failed.name == "chat fail-500"
    assert failed.attributes["gen_ai.provider.name"] == "a"
    assert failed.attributes["gen_ai.request.model"] == "fail-500"
    assert failed.attributes["patchbay.outcome"] == failed.attributes["error.type"] == "5xx"
    assert failed.status == STATUS_ERROR
    assert served.name == "chat gpt-test"
    assert served.attributes["gen_ai.provider.name"] == "b"
    assert served.attributes["patchbay.outcome"] == "ok"
    assert "error.type" not in served.attributes

    # Each upstream call carried its own span as the parent, in the client's trace.
    sent = [r.headers.get("traceparent") for r in upstream.requests]
    assert sent == [f"00-{TRACE_ID}-{span.span_id}-01" for span in (failed, served)]


def test_no_content_is_exported_unless_asked(
    tmp_path: Path, upstream: FakeOpenAI, collector: FakeCollector
) -> None:
    write_config(tmp_path, providers(upstream), server=telemetry(collector))
    with gateway(tmp_path) as url:
        assert chat(url)[0] == 200
    spans = collector.wait_for(3)
    assert len(spans) == 3
    exported = repr([(s.attributes, s.events) for s in spans])
    assert "basil" not in exported and "gen_ai.input.messages" not in exported
    assert "upstream says" not in exported and "gen_ai.output.messages" not in exported


def test_captured_content_is_the_prompt_and_the_answer(
    tmp_path: Path, upstream: FakeOpenAI, collector: FakeCollector
) -> None:
    write_config(tmp_path, providers(upstream), server=telemetry(collector, capture_content=True))
    with gateway(tmp_path) as url:
        status, answer = chat(url)
    assert status == 200
    [server] = by_kind(collector.wait_for(3), SERVER)
    asked = json.loads(server.attributes["gen_ai.input.messages"])
    assert asked == [{"role": "user", "parts": [{"type": "text", "content": PROMPT}]}]
    said = json.loads(server.attributes["gen_ai.output.messages"])
    text = answer["choices"][0]["message"]["content"]
    assert said == [
        {"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": "stop"}
    ]
    for span in by_kind(collector.spans, CLIENT):  # content is the request's, said once
        assert "basil" not in repr(span.attributes)


@pytest.mark.parametrize(
    ("path", "body", "prompt", "reply"),
    [
        (
            "/v1/messages",
            {
                "model": "echo/echo-1",
                "max_tokens": 64,
                "system": "be brief",
                "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
            },
            [{"role": "user", "parts": [{"type": "text", "content": PROMPT}]}],
            "end_turn",
        ),
        (
            "/v1/responses",
            {"model": "echo/echo-1", "instructions": "be brief", "input": PROMPT},
            [{"role": "user", "parts": [{"type": "text", "content": PROMPT}]}],
            "stop",
        ),
    ],
)
def test_content_is_read_in_every_wire_format(
    tmp_path: Path,
    collector: FakeCollector,
    upstream: FakeOpenAI,
    path: str,
    body: dict[str, Any],
    prompt: list[dict[str, Any]],
    reply: str,
) -> None:
    write_config(tmp_path, providers(upstream), server=telemetry(collector, capture_content=True))
    with gateway(tmp_path) as url:
        status, _, raw = post(url + path, json.dumps(body).encode())
    assert status == 200, raw
    [server] = by_kind(collector.wait_for(2), SERVER)
    attributes = server.attributes
    assert server.name == "chat echo/echo-1"
    assert json.loads(attributes["gen_ai.input.messages"]) == prompt
    assert json.loads(attributes["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "be brief"}
    ]
    assert attributes["gen_ai.response.finish_reasons"] == [reply]
    [said] = json.loads(attributes["gen_ai.output.messages"])
    assert said["role"] == "assistant" and said["finish_reason"] == reply
    assert PROMPT in said["parts"][0]["content"]  # echo says what it was sent


def test_a_stream_and_a_route_without_a_model(
    tmp_path: Path, upstream: FakeOpenAI, collector: FakeCollector
) -> None:
    write_config(tmp_path, providers(upstream), server=telemetry(collector))
    with gateway(tmp_path) as url:
        assert chat(url, "b/gpt-test", stream=True)[0] == 200
        with urllib.request.urlopen(url + "/v1/models", timeout=10) as listed:
            assert listed.status == 200
    spans = collector.wait_for(3)
    streamed = next(s for s in spans if s.name == "chat b/gpt-test")
    assert streamed.attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert streamed.attributes["gen_ai.usage.output_tokens"] > 0
    [attempt] = [s for s in by_kind(spans, CLIENT) if s.parent_id == streamed.span_id]
    assert attempt.attributes["patchbay.outcome"] == "ok"
    listing = next(s for s in spans if s.attributes.get("http.route") == "/v1/models")
    assert listing.name == "GET /v1/models"
    assert not any(name.startswith("gen_ai.") for name in listing.attributes)


def test_sampling_keeps_a_share_of_new_traces_and_follows_the_caller(
    tmp_path: Path, upstream: FakeOpenAI, collector: FakeCollector
) -> None:
    write_config(tmp_path, providers(upstream), server=telemetry(collector, sample_ratio=0))
    with gateway(tmp_path) as url:
        assert chat(url, "b/gpt-test")[0] == 200  # a new trace: never sampled at 0
        assert chat(url, "b/gpt-test", {"traceparent": TRACEPARENT})[0] == 200  # sampled
    spans = collector.wait_for(2)
    assert {s.trace_id for s in spans} == {TRACE_ID}
    # Unsampled, the trace still goes upstream, marked as such.
    first, second = (r.headers["traceparent"] for r in upstream.requests)
    assert int(first[-2:], 16) & 1 == 0  # the sampled flag is off
    assert second.startswith(f"00-{TRACE_ID}-") and second.endswith("-01")


def test_the_collector_gets_the_configured_headers_and_they_stay_secret(
    tmp_path: Path, upstream: FakeOpenAI, collector: FakeCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "otlp-token-5d1c9e7a3b"
    monkeypatch.setenv(ADMIN_ENV, ADMIN_KEY)
    monkeypatch.setenv("TEST_OTLP_TOKEN", token)
    server = {
        **telemetry(
            collector, service_name="edge-gw", headers={"x-otlp-key": "${TEST_OTLP_TOKEN}"}
        ),
        "auth": {"admin_key": "${" + ADMIN_ENV + "}"},
    }
    write_config(tmp_path, providers(upstream), server=server)
    with gateway(tmp_path) as url:
        assert chat(url, "b/gpt-test")[0] == 200
        _, _, shown = post(url + "/admin/config", b"", {"Authorization": f"Bearer {ADMIN_KEY}"})
    assert collector.wait_for(2)[0].resource["service.name"] == "edge-gw"
    assert collector.requests[0].headers["x-otlp-key"] == token
    assert token not in shown.decode()


def test_tracing_is_switched_on_and_off_by_a_reload(
    tmp_path: Path, upstream: FakeOpenAI, collector: FakeCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ADMIN_ENV, ADMIN_KEY)
    admin = {"auth": {"admin_key": "${" + ADMIN_ENV + "}"}}
    write_config(tmp_path, providers(upstream), server=admin)

    def reload(server: dict[str, Any]) -> None:
        write_config(tmp_path, providers(upstream), server=server)
        _, _, raw = post(url + "/admin/reload", b"", {"Authorization": f"Bearer {ADMIN_KEY}"})
        assert json.loads(raw)["outcome"] == "applied"

    with gateway(tmp_path, no_watch=True) as url:
        assert chat(url, "b/gpt-test")[0] == 200
        reload({**admin, **telemetry(collector, service_name="one")})
        assert chat(url, "b/gpt-test", {"traceparent": TRACEPARENT})[0] == 200
        reload({**admin, **telemetry(collector, service_name="two")})  # a new pipeline
        assert chat(url, "b/gpt-test", {"traceparent": TRACEPARENT})[0] == 200
        reload(admin)  # off: the pipeline is shut down, so its spans are flushed now
        wait_for(lambda: len(collector.spans) == 6, "the spans flushed when tracing went off")
        assert chat(url, "b/gpt-test")[0] == 200
    # Each chat, its attempt, and the reload that ended its pipeline (it was traced).
    by_service = {
        name: sorted(s.name for s in collector.spans if s.resource["service.name"] == name)
        for name in ("one", "two")
    }
    assert (
        by_service["one"]
        == by_service["two"]
        == [
            "POST /admin/reload",
            "chat b/gpt-test",
            "chat gpt-test",
        ]
    )
    assert {s.trace_id for s in collector.spans if "chat" in s.name} == {TRACE_ID}
    sent = [r.headers.get("traceparent") for r in upstream.requests]
    assert [header is not None for header in sent] == [False, True, True, False]


def test_without_telemetry_opentelemetry_is_never_loaded(tmp_path: Path) -> None:
    write_config(tmp_path, ECHO, server={})
    script = textwrap.dedent(
        f"""
        import json, sys, urllib.request
        from tests.harness import gateway
        with gateway({str(tmp_path)!r}) as url:
            body = json.dumps({{"model": "echo-1", "messages": [{{"role": "user", "content": "hi"}}]}})
            request = urllib.request.Request(url + "/v1/chat/completions", data=body.encode(),
                                             headers={{"Content-Type": "application/json"}})
            assert urllib.request.urlopen(request, timeout=20).status == 200
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


BLOCKED = "import sys; sys.modules['opentelemetry'] = None; from engine.cli import main; "


def test_without_the_extra_telemetry_is_a_config_error_naming_it(tmp_path: Path) -> None:
    """As if `patchbay[telemetry]` were not installed: importing OpenTelemetry fails."""
    write_config(tmp_path, ECHO)
    server = tmp_path / "config" / "server.yaml"
    server.write_text(
        "request_logging: false\ntelemetry:\n  endpoint: http://127.0.0.1:4318/v1/traces\n"
    )

    def check(**environ: str) -> subprocess.CompletedProcess[str]:
        code = BLOCKED + f"sys.exit(main(['check', '--config-dir', {str(tmp_path)!r}]))"
        return subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **environ},
        )

    found = check()
    assert found.returncode == 1
    assert found.stderr.strip() == (
        "config/server.yaml:2:1: tracing needs OpenTelemetry, which is not installed:"
        " pip install 'patchbay[telemetry]' (at telemetry)"
    )
    server.write_text("request_logging: false\n")
    found = check(PATCHBAY_TELEMETRY_ENDPOINT="http://127.0.0.1:4318/v1/traces")
    assert found.returncode == 2
    assert "pip install 'patchbay[telemetry]'" in found.stderr
    assert "Traceback" not in found.stderr


def test_telemetry_settings_resolve_and_are_checked(tmp_path: Path) -> None:
    def settings(server: str, environ: dict[str, str] | None = None) -> Any:
        (tmp_path / "config").mkdir(exist_ok=True)
        (tmp_path / "config" / "server.yaml").write_text(textwrap.dedent(server))
        snapshot = build_snapshot(read_sources(tmp_path), WIRE_FORMATS, environ or {}, {})
        return snapshot.settings.telemetry

    write_config(tmp_path, ECHO)
    assert settings("telemetry: null\n") is None
    block = """\
    telemetry:
      endpoint: ${OTEL_URL}
      headers: {authorization: "Bearer ${OTEL_TOKEN}", x-tenant: blue}
    """
    assert settings(block) is None  # its variable is unset: tracing is off
    on = settings(block, {"OTEL_URL": "http://127.0.0.1:4318/v1/traces"})
    assert (on.endpoint, on.service_name, on.capture_content, on.sample_ratio) == (
        "http://127.0.0.1:4318/v1/traces",
        "patchbay",
        False,
        1.0,
    )
    assert on.headers == (("x-tenant", "blue"),)  # a header whose variable is unset is not sent
    environ = {"PATCHBAY_TELEMETRY_ENDPOINT": "https://otel.example/v1/traces"}
    environ["PATCHBAY_TELEMETRY_CAPTURE_CONTENT"] = "true"
    by_env = settings("request_logging: true\n", environ)
    assert (by_env.endpoint, by_env.capture_content) == (
        environ["PATCHBAY_TELEMETRY_ENDPOINT"],
        True,
    )

    for bad, message in [
        ("telemetry: {endpoint: ftp://x}", "endpoint is an http:// or https:// URL"),
        ("telemetry: {endpoint: http://x, sample_ratio: 2}", "telemetry.sample_ratio"),
        ("telemetry: {service_name: x}", "endpoint"),
        ("telemetry: {endpoint: '${OTEL_URL}'}", "telemetry.endpoint: must be an http://"),
    ]:
        with pytest.raises(ConfigInvalid) as caught:
            settings(bad, {"OTEL_URL": "not a url"})
        assert message in str(caught.value.problems), bad
        assert "not a url" not in str(caught.value.problems)


def test_the_shipped_example_validates_once_uncommented(tmp_path: Path) -> None:
    shipped = (ROOT / "config" / "server.yaml").read_text()
    start = shipped.index("# telemetry:")
    lines = []
    for line in shipped[start:].splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[2:] if line.startswith("# ") else line[1:])
    example = yaml.safe_load("\n".join(lines))
    write_config(tmp_path, ECHO, server=example)
    snapshot = build_snapshot(read_sources(tmp_path), WIRE_FORMATS, {"OTLP_TOKEN": "t0k3n"}, {})
    assert snapshot.settings.telemetry is not None


def test_patchbay_serve_says_it_traces_and_each_worker_flushes_at_shutdown(
    tmp_path: Path, upstream: FakeOpenAI, collector: FakeCollector
) -> None:
    server = telemetry(collector, sample_ratio=0.5, capture_content=True)
    write_config(tmp_path, providers(upstream), server={**server, "request_logging": False})
    with serving(tmp_path, PATCHBAY_WORKERS="2") as (console, url):
        console.wait_for("tracing: ")
        for _ in range(10):  # sampled by the caller: all kept, whatever the ratio
            assert chat(url, "b/gpt-test", {"traceparent": TRACEPARENT})[0] == 200
        lines = console.stop()
    said = (
        f"tracing: OTLP/HTTP to {collector.endpoint} as patchbay (50% of new traces, with content)"
    )
    tracing = [line for line in lines if "tracing: " in line]
    assert tracing and all(line.endswith(said) for line in tracing)
    # Spans are sent every 5 s: these went out when each worker stopped.
    served = [s for s in collector.wait_for(20) if s.kind == SERVER and s.trace_id == TRACE_ID]
    assert len(served) == 10
    assert {s.resource["process.pid"] for s in collector.spans} <= set(_worker_pids(lines))


def _worker_pids(lines: list[str]) -> list[int]:
    """The process ids text lines carry with several workers (`... [1234] INFO ...`)."""
    return [int(pid) for pid in re.findall(r"\[(\d+)\] ", "\n".join(lines))]
