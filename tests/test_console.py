"""What `patchbay serve` prints: the start-up summary, one format for every line (text
or JSON), reload lines naming what changed, a line when a broken config is fixed, and
no line twice."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.harness import free_port
from tests.pages_harness import SHIPPED, fetch, wait_for

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) +\S")

pytestmark = pytest.mark.timeout(90)


class Console:
    """A `patchbay serve` process and every line it writes to stderr."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str) -> None:
        wait_for(lambda: any(text in line for line in self.lines), 20, repr(text))

    def stop(self) -> list[str]:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)
        self._reader.join(10)
        return self.lines


@contextmanager
def serving(config: Path, **env: str) -> Iterator[tuple[Console, str]]:
    port = free_port()
    listen = ["--host", "127.0.0.1", "--port", str(port)]
    environ = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--config-dir", str(config), *listen],
        env={**environ, "GROQ_API_KEY": "gsk-test", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    console = Console(process)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _up(url, process), 30, "the server")
        yield console, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _up(url: str, process: subprocess.Popen[str]) -> bool:
    assert process.poll() is None, "the server exited"
    try:
        return fetch(url + "/health")[0] == 200
    except OSError:
        return False


def shipped_copy(tmp_path: Path) -> Path:
    target = tmp_path / "cfg"
    (target / "config").mkdir(parents=True)
    for name in ("routes.yaml", "providers.yaml", "config/server.yaml"):
        shutil.copy(SHIPPED / name, target / name)
    return target


def test_the_summary_then_reloads_in_one_text_format_and_no_line_twice(tmp_path: Path) -> None:
    config = shipped_copy(tmp_path)
    providers = config / "providers.yaml"
    shipped = providers.read_text()
    with serving(config) as (console, url):
        console.wait_for("Running on")
        providers.write_text(
            shipped.replace(
                "    base_url: https://api.groq.com",
                "    enabled: false\n    base_url: https://api.groq.com",
            )
        )
        console.wait_for("applied")
        providers.write_text(shipped + "broken: [\n")
        console.wait_for("config rejected")
        providers.write_text(
            shipped.replace(
                "    base_url: https://api.groq.com",
                "    enabled: false\n    base_url: https://api.groq.com",
            )
        )
        console.wait_for("config fixed")
        lines = console.stop()
    text = "\n".join(lines)
    assert f"Patchbay 0.1.0 serving {url} (config {config}, hash " in text
    assert f"pages: {url}/ · docs {url}/docs · reference {url}/redoc" in text
    assert "providers: 2 active (echo, groq) · switched off: pollinations, ollama" in text
    assert "missing a key: openai (set OPENAI_API_KEY)" in text
    assert "cloudflare (set CLOUDFLARE_API_TOKEN and CLOUDFLARE_ACCOUNT_ID)" in text
    aliases = list(yaml.safe_load(shipped)["aliases"])  # each keeps an active target
    served = (
        "models: 6 served (3 chat, 1 embedding, 1 speech, 1 transcription) "
        f"and {len(aliases)} aliases"
    )
    assert f"{served} ({', '.join(aliases)})" in text
    applied = next(line for line in lines if "applied" in line)
    assert "providers.yaml changed: provider groq switched off" in applied
    assert "models removed: groq/llama-3.1-8b-instant, groq/llama-3.3-70b-versatile" in applied
    assert "config fixed: the files are back to the served config" in text
    # Every record, the server's own included, in one format; continuation lines
    # (a rejected config's problems) follow a record.
    records = [line for line in lines if not line.startswith("providers.yaml:")]
    assert all(TEXT_LINE.match(line) for line in records), records
    assert any(" server: Running on " in line for line in records)
    assert len(lines) == len(set(lines)), [line for line in lines if lines.count(line) > 1]


def test_json_format_one_object_a_line_with_the_facts(tmp_path: Path) -> None:
    config = shipped_copy(tmp_path)
    with serving(config, PATCHBAY_LOG_FORMAT="json") as (console, url):
        console.wait_for("Running on")
        fetch(url + "/v1/models")
        console.wait_for("/v1/models")
        lines = console.stop()
    records = [json.loads(line) for line in lines]
    assert {r["level"] for r in records} <= {"info", "warning"}
    startup = [r for r in records if r.get("event") == "startup"]
    assert startup[0]["address"] == url and startup[1]["docs"] == url + "/docs"
    assert startup[2]["missing_key"]["openai"] == ["OPENAI_API_KEY"]
    assert startup[2]["active"] == ["echo", "groq"]
    access = next(r for r in records if r.get("path") == "/v1/models")
    assert access["logger"] == "patchbay.access" and access["status"] == 200


def test_serving_the_last_good_config_says_so_once(tmp_path: Path) -> None:
    config = shipped_copy(tmp_path)
    with serving(config) as (console, _):
        console.wait_for("Running on")
        console.stop()
    (config / "providers.yaml").write_text("providers: [\n")
    with serving(config) as (console, _):
        console.wait_for("Running on")
        lines = console.stop()
    warnings = [line for line in lines if "CONFIG ON DISK IS INVALID" in line]
    assert len(warnings) == 1, lines
    assert any(line.startswith("providers.yaml:2:1:") for line in lines)
