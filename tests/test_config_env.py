"""`${VAR}`, `${VAR:-default}` and `${VAR:?message}`: resolved as shells read them, never shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import ConfigInvalid, env_refs, read_sources, resolve_env
from engine.config.envref import malformed_reference, required_unset
from engine.handlers import WIRE_FORMATS
from engine.live.reload import build_snapshot
from tests.test_config import MIN_ROUTES, write_config

ENVIRON = {"HOST": "api.example.com", "PORT": "8443", "EMPTY": ""}


@pytest.mark.parametrize(
    ("value", "resolved"),
    [
        ("${HOST:-localhost}", "api.example.com"),
        ("${UNSET:-localhost}", "localhost"),
        ("${EMPTY:-localhost}", "localhost"),  # empty counts as unset, as with `:-` in shells
        ("${UNSET:-}", ""),  # an explicit empty default is a value, not "off"
        ("http://${UNSET:-${HOST}}:${PORT:-80}/v1", "http://api.example.com:8443/v1"),
        ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
        ("${UNSET:-${ALSO_UNSET}}", None),  # the default's own reference is unset
        ("${UNSET:-a:b-c?d}", "a:b-c?d"),
        ("$${UNSET:-x}", "${UNSET:-x}"),
        ("${HOST:?needed}", "api.example.com"),
        ("${UNSET:?needed}", None),  # the config check refuses it before it gets here
    ],
)
def test_defaults_and_required_variables_resolve(value: str, resolved: str | None) -> None:
    assert resolve_env(value, ENVIRON) == resolved


def test_references_inside_defaults_are_named() -> None:
    assert env_refs("${A:-${B:-x}}/${C:?m}") == ["A", "B", "C"]


@pytest.mark.parametrize(
    "value", ["${A-x}", "${A:x}", "${A:-x", "${}", "${A:?never closed", "${1A}", "${A:-${B}"]
)
def test_malformed_references(value: str) -> None:
    assert malformed_reference(value)


@pytest.mark.parametrize("value", ["${A}", "${A:-}", "${A:?}", "${A:-${B:-c}}", "$${A-x}", "$5"])
def test_well_formed_references(value: str) -> None:
    assert not malformed_reference(value)


def test_required_unset_follows_defaults() -> None:
    assert required_unset("${A:?set A}", {}) == [("A", "set A")]
    assert required_unset("${A:?set A}", {"A": "x"}) == []
    assert required_unset("${A:-${B:?set B}}", {"A": "x"}) == []  # the default is not used
    assert required_unset("${A:-${B:?set B}}", {}) == [("B", "set B")]


def test_a_required_variable_is_a_problem_at_its_line(tmp_path: Path) -> None:
    providers = """\
    providers:
      echo: {kind: echo, models: [echo-1]}
      openai:
        kind: openai
        base_url: ${OPENAI_URL:-https://api.openai.com/v1}
        api_key: ${OPENAI_KEY:?export OPENAI_KEY before starting}
        models: [gpt-4o]
    """
    write_config(tmp_path, providers=providers)
    with pytest.raises(ConfigInvalid) as caught:
        build_snapshot(read_sources(tmp_path), WIRE_FORMATS, {}, {})
    assert [str(p) for p in caught.value.problems] == [
        "providers.yaml:6:14: environment variable OPENAI_KEY is not set:"
        " export OPENAI_KEY before starting (at providers.openai.api_key)"
    ]
    snapshot = build_snapshot(read_sources(tmp_path), WIRE_FORMATS, {"OPENAI_KEY": "sk-1"}, {})
    openai = snapshot.providers["openai"]
    assert (openai.status, openai.base_url, openai.api_key) == (
        "active",
        "https://api.openai.com/v1",
        "sk-1",
    )


def test_unset_without_default_still_switches_off(tmp_path: Path) -> None:
    providers = """\
    providers:
      echo: {kind: echo, models: [echo-1]}
      off: {kind: openai, base_url: "http://x.invalid", api_key: "${NOT_SET}", models: [m]}
      keyless: {kind: openai, base_url: "${LOCAL_URL:-http://127.0.0.1:11434/v1}", api_key: "${LOCAL_KEY:-}", models: [m]}
    """
    server = """\
    auth:
      keys:
        - {name: carol, key: "${CAROL_NOT_SET}"}
        - {name: dave, key: "${DAVE_NOT_SET:-dave-default-key}"}
    """
    write_config(tmp_path, providers=providers, server=server)
    snapshot = build_snapshot(read_sources(tmp_path), WIRE_FORMATS, {}, {})
    assert snapshot.providers["off"].status == "missing_key"
    assert snapshot.providers["keyless"].status == "active"
    assert snapshot.providers["keyless"].base_url == "http://127.0.0.1:11434/v1"
    assert [key.name for key in snapshot.settings.auth.keys] == ["dave"]


SECRET = "s3cret-value-never-shown"


def test_no_message_quotes_a_value_from_a_variable(tmp_path: Path) -> None:
    """Broken files that use secrets: `patchbay check` names problems, never the values."""
    providers = """\
    providers:
      echo: {kind: echo, models: [echo-1]}
      openai: {kind: openai, base_url: "${BASE:-http://x.invalid}", api_key: "${SECRET_KEY}", timeout: "${SECRET_KEY}"}
      other: {kind: openai, api_key: "${SECRET_KEY:?needed}", models: [m], base_url: "${NEEDED:?set NEEDED}"}
    """
    server = """\
    auth:
      admin_key: ${SECRET_KEY}
      keys: [{name: a, key: "${SECRET_KEY}", rpm: "${SECRET_KEY}"}]
    """
    write_config(tmp_path, routes=MIN_ROUTES, providers=providers, server=server)
    env = {
        **os.environ,
        "SECRET_KEY": SECRET,
        "BASE": SECRET,
        "PATCHBAY_REDIS_URL": f"x://u:{SECRET}@h",
    }
    for args in (["check"], ["models"]):
        result = subprocess.run(
            [sys.executable, "-m", "engine", *args, "--config-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert result.returncode != 0
        assert SECRET not in result.stdout + result.stderr
    # Each problem was named: the redis URL, then (with it fixed) the files.
    assert "redis_url" in result.stderr
    env.pop("PATCHBAY_REDIS_URL")
    result = subprocess.run(
        [sys.executable, "-m", "engine", "check", "--config-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    assert "environment variable NEEDED is not set: set NEEDED" in result.stderr
    assert "expected a number, got '${SECRET_KEY}'" in result.stderr
    assert SECRET not in result.stdout + result.stderr
