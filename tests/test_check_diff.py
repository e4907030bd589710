"""`patchbay check --against URL` / `--diff`: what a reload would change, on the golden configs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import read_sources
from engine.handlers import WIRE_FORMATS
from engine.live.reload import build_snapshot
from engine.snapshot.describe import describe
from tests.harness import free_port, gateway
from tests.reload_helpers import request

SPEC = Path(__file__).parent / "configs" / "config-spec"
ADMIN = "diff-admin-key"
OPENAI = "sk-openai-never-shown"
# The gateway's environment; the command line's differs on purpose (see cli()).
GATEWAY_ENV = {"PATCHBAY_ADMIN_KEY": ADMIN, "OPENAI_API_KEY": OPENAI, "ALICE_KEY": "sk-alice"}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    directory = tmp_path / "cfg"
    shutil.copytree(SPEC, directory, ignore=shutil.ignore_patterns("expected.json"))
    return directory


@pytest.fixture
def served(files: Path) -> Iterator[str]:
    with gateway(files, environ=GATEWAY_ENV, no_watch=True) as url:
        yield url


def cli(files: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`patchbay check` run where only the admin key is set (no provider keys)."""
    return subprocess.run(
        [sys.executable, "-m", "engine", "check", "--config-dir", str(files), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATCHBAY_ADMIN_KEY": ADMIN, "OPENAI_API_KEY": "", **env},
    )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_the_files_being_served_change_nothing(files: Path, served: str) -> None:
    # The gateway has OPENAI_API_KEY and this shell does not: its variables decide.
    result = cli(files, "--against", served)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"Reloading {files} on {served} would change nothing.\n"


def test_every_kind_of_change_is_listed(files: Path, served: str) -> None:
    providers, routes, server = (
        files / "providers.yaml",
        files / "routes.yaml",
        files / "config" / "server.yaml",
    )
    edit(providers, "      - gpt-4o-mini\n", "      - gpt-4.1\n")
    edit(providers, "    timeout: 30\n", "    timeout: 10\n    enabled: false\n")
    edit(providers, "  fast: groq/llama-3.1-8b-instant\n", "")
    edit(
        providers,
        "  smart: [openai/gpt-4o, anthropic/claude-sonnet-4-5]",
        "  smart: [openai/gpt-4o, openai/gpt-4.1]",
    )
    edit(providers, "  deadline: 120\n", "  deadline: 60\n")
    (files / "providers.d").mkdir()
    (files / "providers.d" / "team.yaml").write_text(
        "providers:\n  team: {kind: echo, models: [t-1]}\n"
        "  keyed: {kind: openai, base_url: 'http://x.invalid', api_key: '${TEAM_KEY}', models: [k]}\n"
    )
    edit(
        routes,
        "  - {path: /search, handler: search.query}\n",
        "  - {path: /find, handler: search.query}\n",
    )
    edit(
        routes, 'message: "Slow down: {{ limit }} per minute."', 'message: "Slow: {{ limit }}/min."'
    )
    edit(server, "port: 8000", "port: 8001")
    edit(server, "      rpm: 60\n", "      rpm: 61\n")
    edit(server, "rate_limit: {rpm: null, tpm: null}", "rate_limit: {rpm: 100, tpm: null}")
    # TEAM_KEY is set here but not on the gateway: `keyed` would arrive switched off.
    result = cli(files, "--against", served, TEAM_KEY="sk-team")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"Reloading {files} on {served} would change:",
        "providers:",
        "  + team  (echo, active, 1 model(s))",
        "  + keyed  (openai, missing_key, 1 model(s))",
        "  ~ openai  models: +gpt-4.1 -gpt-4o-mini",
        "  ~ groq  timeout: 30 -> 10; status: missing_key -> disabled; enabled: (unset) -> false",
        "models:",
        "  + openai/gpt-4.1  (chat)",
        "  + team/t-1  (chat)",
        "  - openai/gpt-4o-mini",
        "aliases:",
        "  - fast",
        "  ~ smart  targets: +openai/gpt-4.1 -anthropic/claude-sonnet-4-5;"
        " serving: +openai/gpt-4.1",
        "defaults:",
        "  ~ deadline  120 -> 60",
        "routes:",
        "  + GET /find  -> search.query",
        "  - GET /search #2",
        "errors:",
        "  ~ rate_limit_exceeded  message: Slow down: {{ limit }} per minute. -> Slow: {{ limit }}/min.",
        "settings:",
        "  ~ port  8000 -> 8001 (takes a restart)",
        "  ~ auth.keys.alice  rpm: 60 -> 61",
        "  ~ rate_limit.rpm  null -> 100",
    ]
    as_json = json.loads(cli(files, "--against", served, "--json").stdout)
    assert as_json["changes"]["models"] == {
        "added": ["openai/gpt-4.1", "team/t-1"],
        "removed": ["openai/gpt-4o-mini"],
        "changed": {},
    }
    assert OPENAI not in result.stdout + json.dumps(as_json)


def test_diff_finds_the_gateway_the_files_describe(files: Path, served: str) -> None:
    port = served.rsplit(":", 1)[1]
    # host 0.0.0.0 is asked on 127.0.0.1; PATCHBAY_PORT wins over the file, as in `serve`.
    result = cli(files, "--diff", PATCHBAY_PORT=port)
    assert (result.returncode, result.stdout) == (
        0,
        f"Reloading {files} on http://127.0.0.1:{port} would change nothing.\n",
    )
    edit(files / "config" / "server.yaml", "port: 8000", f"port: {port}")
    result = cli(files, "--diff")
    assert result.stdout.splitlines()[1:] == [
        "settings:",
        f"  ~ port  8000 -> {port} (takes a restart)",
    ]


def test_a_required_variable_the_gateway_lacks_is_a_rejection(files: Path, served: str) -> None:
    edit(
        files / "providers.yaml",
        "api_key: ${GROQ_API_KEY}",
        "api_key: ${GROQ_API_KEY:?set GROQ_API_KEY}",
    )
    result = cli(files, "--against", served, GROQ_API_KEY="gsk-here-only")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "A reload would reject these files:",
        "providers.yaml:32:14: environment variable GROQ_API_KEY is not set: set GROQ_API_KEY"
        " (at providers.groq.api_key)",
    ]


def test_unreachable_or_refusing_gateways(files: Path, served: str) -> None:
    wrong = cli(files, "--against", served, PATCHBAY_ADMIN_KEY="wrong")
    assert wrong.returncode == 2 and "refused the admin key" in wrong.stderr
    local = cli(files, "--against", str(files / "providers.yaml"))
    assert local.returncode == 2 and "is not an http:// or https:// URL" in local.stderr
    nobody = cli(files, "--against", f"http://127.0.0.1:{free_port()}")
    assert nobody.returncode == 2 and "cannot ask http://127.0.0.1:" in nobody.stderr
    with gateway(files, environ={**GATEWAY_ENV, "PATCHBAY_ADMIN_KEY": ""}, no_watch=True) as url:
        closed = cli(files, "--against", url)
    assert closed.returncode == 2 and "has no /admin/config" in closed.stderr


def test_admin_config_describes_without_secrets(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    shutil.copytree(SPEC, directory, ignore=shutil.ignore_patterns("expected.json"))
    edit(
        directory / "providers.yaml",
        "    headers: {X-Title: Patchbay}",
        "    headers: {Authorization: Bearer sk-literal}",
    )
    edit(
        directory / "providers.yaml",
        "    api_key: ${ANTHROPIC_API_KEY}",
        "    api_key: sk-ant-literal",
    )
    edit(
        directory / "config" / "server.yaml",
        "redis_url: null",
        "redis_url: redis://user:pw-literal@127.0.0.1:1/0",
    )
    snapshot = build_snapshot(read_sources(directory), WIRE_FORMATS, GATEWAY_ENV, {})
    view = describe(snapshot, GATEWAY_ENV, ["GROQ_API_KEY", "NOT A NAME"])
    text = json.dumps(view)
    for secret in ("sk-literal", "sk-ant-literal", "pw-literal", OPENAI, "sk-alice"):
        assert secret not in text
    assert view["providers"]["openai"]["api_key"] == "${OPENAI_API_KEY}"
    assert view["providers"]["anthropic"]["api_key"] == "<secret>"
    assert view["providers"]["together"]["headers"] == {"Authorization": "<secret>"}
    assert view["settings"]["redis_url"] == "redis://<secret>@127.0.0.1:1/0"
    assert view["settings"]["auth.keys.bob"] == {"sha256": "9f86d081884c..."}
    assert view["variables"]["OPENAI_API_KEY"] is True
    assert view["variables"]["GROQ_API_KEY"] is False
    assert "NOT A NAME" not in view["variables"]
    with gateway(SPEC, environ=GATEWAY_ENV, no_watch=True) as url:
        status, body = request(
            "GET",
            url + "/admin/config?variables=EXTRA_ONE",
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
    assert status == 200 and body["config"]["variables"]["EXTRA_ONE"] is False
    assert OPENAI not in json.dumps(body)
