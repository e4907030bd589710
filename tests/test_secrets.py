"""No fragment of a configured secret leaves the process: not in answers, pages, status or logs.

Secrets come from `${VAR}`s (upstream keys, a header, the admin and client keys, a
search key, a value in the API description) and from a header written out in
providers.yaml. The upstream is hostile: it quotes every header it was sent, upper-cases
and cuts the key, in error answers, in an error event mid-stream, in model discovery
and in search. Patchbay runs as a subprocess so that its real log output is searched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.observe.redact import FRAGMENT
from tests.fakes.faulty_server import FaultyUpstream
from tests.harness import free_port, write_config
from tests.pages_harness import fetch
from tests.reload_helpers import request, wait_for

SECRETS = {
    "UP_KEY": "sk-Qm7v2XpL9tRz4Wc8Nb1Kd6Hy",
    "ORG_TOKEN": "org-T5gJ8sVw3Fq0Lx9Pz2Rm",
    "DISC_KEY": "dk-8ZrW4nYq1Vb7Tc5Xm3Jp",
    "BRAVE_KEY": "BSA4kP9wQ2zX7mV1nR8tL5yC",
    "ADMIN_KEY": "adm-Hz3Qw8Vr5Tn1Mk7Ly2Pd",
    "ALICE_KEY": "ali-R6xN2qW9zT4vB8mK1sJc",
    "ACCOUNT_ID": "acct7f3e9d1c5b8a2f6e4d0c",
}
LITERAL_HEADER = "lit-Y4cR8vN1xQ6zW2mT9kB"  # written out in providers.yaml, not a ${VAR}


def _config(directory: Path, fake: FaultyUpstream) -> Path:
    root = fake.url.removesuffix("/v1")
    providers = {
        "defaults": {"provider": "echo", "timeout": 5, "retries": 0},
        "providers": {
            "echo": {"kind": "echo", "models": ["echo-1"]},
            "up": {
                "kind": "openai",
                "base_url": fake.url,
                "api_key": "${UP_KEY}",
                "headers": {"X-Org-Token": "${ORG_TOKEN}", "X-Literal": LITERAL_HEADER},
                "models": ["echo-headers", "echo-fragments", "echo-midstream"],
            },
            "disc": {
                "kind": "openai",
                "base_url": fake.url,
                "api_key": "${DISC_KEY}",
                "models": "discover",
            },
        },
        "search": {
            "default": "brave",
            "engines": {"brave": {"kind": "brave", "base_url": root, "api_key": "${BRAVE_KEY}"}},
        },
    }
    server = {
        "log_level": "debug",
        "request_logging": True,
        "api": {"description": "The gateway of account ${ACCOUNT_ID}"},
        "auth": {"admin_key": "${ADMIN_KEY}", "keys": [{"name": "alice", "key": "${ALICE_KEY}"}]},
    }
    return write_config(directory, providers, server=server)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """(base URL, config dir, log file) of Patchbay in front of the hostile upstream."""
    with FaultyUpstream().in_thread() as fake:
        directory = _config(tmp_path / "cfg", fake)
        port = free_port()
        command = [sys.executable, "-m", "engine", "serve", "--config-dir", str(directory)]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        logs = tmp_path / "serve.log"
        with open(logs, "wb") as out:
            process = subprocess.Popen(
                command, cwd=tmp_path, env={**os.environ, **SECRETS}, stdout=out, stderr=out
            )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: _answers(base), "the server to answer", deadline=30)
            yield base, directory, logs
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _answers(base: str) -> bool:
    try:
        return fetch(base + "/health")[0] == 200
    except OSError:
        return False


def _leaks(text: str) -> list[str]:
    """Every FRAGMENT-long run of a secret found in `text`, in any case."""
    folded = text.lower()
    found = []
    for secret in [*SECRETS.values(), LITERAL_HEADER]:
        low = secret.lower()
        runs = {low[i : i + FRAGMENT] for i in range(len(low) - FRAGMENT + 1)}
        found += [run for run in runs if run in folded]
    return found


def _seen(reply: tuple[int, dict[str, str], bytes]) -> str:
    status, headers, body = reply
    return f"{status} {json.dumps(headers)} {body.decode('utf-8', 'replace')}\n"


def _chat(base: str, model: str, stream: bool) -> str:
    body: dict[str, Any] = {"model": model, "stream": stream, "messages": [{"role": "user"}]}
    return _seen(fetch(base + "/v1/chat/completions", "POST", body))


def _discovery_error(base: str) -> str | None:
    providers = json.loads(fetch(base + "/v1/providers")[2])["data"]
    return next(p.get("discovery_error") for p in providers if p["name"] == "disc")


def test_no_fragment_of_a_secret_leaves_the_process(served: tuple[str, Path, Path]) -> None:
    base, _, logs = served
    wait_for(lambda: _discovery_error(base), "the discovery error to show")
    seen = ""
    for model in ("up/echo-headers", "up/echo-fragments"):
        for stream in (False, True):
            seen += _chat(base, model, stream)
    seen += _chat(base, "up/echo-midstream", True)
    for path in ("/v1/providers", "/search?q=x", "/", "/_patchbay/status", "/openapi.json"):
        seen += _seen(fetch(base + path))
    seen += _seen(fetch(base + "/docs")) + _seen(fetch(base + "/redoc"))
    admin = {"Authorization": f"Bearer {SECRETS['ADMIN_KEY']}"}
    seen += json.dumps(request("GET", base + "/admin/config", headers=admin))
    assert _leaks(seen) == [], _leaks(seen)
    assert _leaks(logs.read_text()) == [], _leaks(logs.read_text())
    assert seen.count("***") >= 6  # what the upstream quoted back is there, masked
    assert "The gateway of account ***" in fetch(base + "/")[2].decode()


def test_a_symlink_out_of_the_config_directory_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "secret.yaml"
    outside.write_text("sk-live-" + SECRETS["UP_KEY"] + "\n")
    directory = write_config(tmp_path / "cfg", {"providers": {}})
    (directory / "providers.yaml").unlink()
    (directory / "providers.yaml").symlink_to(outside)
    done = subprocess.run(
        [sys.executable, "-m", "engine", "check", "--config-dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "leads outside the config directory" in done.stdout + done.stderr
    assert _leaks(done.stdout + done.stderr) == []


def test_a_setting_from_a_variable_is_never_quoted(tmp_path: Path) -> None:
    directory = write_config(tmp_path / "cfg", {"providers": {"echo": {"kind": "echo"}}})
    secret_url = f"http://:{SECRETS['ADMIN_KEY']}@cache.internal:6379/0"
    for name, value in (("PATCHBAY_REDIS_URL", secret_url), ("PATCHBAY_PORT", SECRETS["UP_KEY"])):
        done = subprocess.run(
            [sys.executable, "-m", "engine", "check", "--config-dir", str(directory)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, name: value},
        )
        assert done.returncode != 0
        assert name.removeprefix("PATCHBAY_").lower() in done.stderr.lower()
        assert _leaks(done.stdout + done.stderr) == [], done.stderr
