"""The command line: check, routes, models, serve; settings precedence; graceful stop."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.harness import free_port, write_config

ROOT = Path(__file__).resolve().parent.parent


def patchbay(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def shipped_copy(tmp_path: Path) -> Path:
    target = tmp_path / "cfg"
    (target / "config").mkdir(parents=True)
    for name in ("routes.yaml", "providers.yaml", "config/server.yaml"):
        shutil.copy(ROOT / name, target / name)
    return target


def test_check_passes_on_the_shipped_config() -> None:
    result = patchbay("check", "--config-dir", str(ROOT))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_check_reports_a_yaml_syntax_error_with_position(tmp_path: Path) -> None:
    config = shipped_copy(tmp_path)
    (config / "providers.yaml").write_text(
        "providers:\n  echo:\n    kind: echo\n    models: [echo-1\n"
    )
    result = patchbay("check", "--config-dir", str(config))
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[0]
    file, lineno, col, message = line.split(":", 3)
    assert file == "providers.yaml" and int(lineno) >= 4 and int(col) >= 1 and message.strip()


def test_check_reports_an_unknown_key_with_position(tmp_path: Path) -> None:
    config = shipped_copy(tmp_path)
    text = (config / "config" / "server.yaml").read_text() + "prot: 8080\n"
    (config / "config" / "server.yaml").write_text(text)
    result = patchbay("check", "--config-dir", str(config))
    assert result.returncode == 1
    last_line = len(text.splitlines())
    assert f"config/server.yaml:{last_line}:1:" in result.stderr
    assert "prot" in result.stderr


def test_routes_and_models_print_the_compiled_view() -> None:
    routes = patchbay("routes", "--config-dir", str(ROOT))
    assert "/v1/chat/completions" in routes.stdout and "chat.completions" in routes.stdout
    tts = next(line for line in routes.stdout.splitlines() if "/v1/TTS/models" in line)
    assert tts.split()[-2:] == ["models.list", "type=speech"]  # a route's fixed arguments
    models = patchbay("models", "--config-dir", str(ROOT), env={"GROQ_API_KEY": ""})
    assert "echo/echo-1" in models.stdout.split()
    assert not any(m.startswith("groq/") for m in models.stdout.split())
    with_key = patchbay("models", "--config-dir", str(ROOT), env={"GROQ_API_KEY": "gsk-test"})
    assert "groq/llama-3.1-8b-instant" in with_key.stdout.split()


def test_invalid_setting_stops_start_up_naming_it(tmp_path: Path) -> None:
    result = patchbay(
        "serve", "--config-dir", str(shipped_copy(tmp_path)), env={"PATCHBAY_PORT": "eighty"}
    )
    assert result.returncode != 0
    assert "PATCHBAY_PORT" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def _wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            _get_json(url + "/health")
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(url)


@pytest.mark.timeout(90)
def test_serve_precedence_base_url_and_graceful_sigterm(tmp_path: Path, server: str) -> None:
    config = write_config(
        tmp_path / "cfg",
        {"providers": {"echo": {"kind": "echo", "models": ["echo-1"]}}},
        server={"port": 1, "base_url": "/file"},
    )
    port = free_port()
    # Command line beats the environment, which beats server.yaml.
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "serve",
            "--config-dir",
            str(config),
            "--port",
            str(port),
            "--base-url",
            "/api",
            "--host",
            "127.0.0.1",
            "--server",
            server,
        ],
        env={**os.environ, "PATCHBAY_PORT": "2", "PATCHBAY_BASE_URL": "/env"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/api"
        _wait_up(url, process)
        models = _get_json(url + "/v1/models")
        assert isinstance(models, dict) and models["data"][0]["id"] == "echo/echo-1"
        # A stream in flight when SIGTERM arrives still completes.
        request = urllib.request.Request(
            url + "/v1/chat/completions",
            data=json.dumps(
                {
                    "model": "auto",
                    "stream": True,
                    "messages": [{"role": "user", "content": "one two three"}],
                }
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            process.send_signal(signal.SIGTERM)
            body = resp.read().decode()
        assert body.rstrip().endswith("data: [DONE]")
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_default_provider_given_outside_the_files_must_exist(tmp_path: Path) -> None:
    config = shipped_copy(tmp_path)
    for args, env in (
        (["--default-provider", "nope"], {}),
        ([], {"PATCHBAY_DEFAULT_PROVIDER": "nope"}),
    ):
        result = patchbay("serve", "--config-dir", str(config), "--port", "1", *args, env=env)
        assert result.returncode == 1
        assert "default_provider 'nope'" in result.stderr
    assert (
        patchbay(
            "models", "--config-dir", str(config), env={"PATCHBAY_DEFAULT_PROVIDER": "echo"}
        ).returncode
        == 0
    )


def test_a_redis_url_must_be_a_redis_url(tmp_path: Path) -> None:
    config = shipped_copy(tmp_path)
    result = patchbay(
        "check", "--config-dir", str(config), env={"PATCHBAY_REDIS_URL": "localhost:6379"}
    )
    assert result.returncode == 2 and "redis_url" in result.stderr
    server = config / "config" / "server.yaml"
    server.write_text(server.read_text().replace("redis_url: null", "redis_url: localhost:6379"))
    result = patchbay("check", "--config-dir", str(config))
    assert result.returncode == 1 and "config/server.yaml:" in result.stderr
    assert "redis_url" in result.stderr
