"""`patchbay explain MODEL [--key NAME]` and GET /admin/explain, on the golden config-spec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.commands import IN_MEMORY
from engine.config import read_sources
from engine.handlers import WIRE_FORMATS
from engine.live.reload import build_snapshot
from engine.routing.explain import explain, render_text
from engine.snapshot.model import Snapshot
from tests.harness import gateway
from tests.reload_helpers import request

SPEC = Path(__file__).parent / "configs" / "config-spec"
ADMIN = "explain-admin-key"
ENVIRON = {"OPENAI_API_KEY": "sk-openai", "ALICE_KEY": "sk-alice", "PATCHBAY_ADMIN_KEY": ADMIN}


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return build_snapshot(read_sources(SPEC), WIRE_FORMATS, ENVIRON, {})


NO_PARAMS = {"defaults": {}, "override": {}, "drop": []}


def target(
    model: str, status: str, used: bool, allowed: bool = True, **extra: Any
) -> dict[str, Any]:
    """A target as explain lists it; a used one has a parameter policy (here, none)."""
    provider, _, upstream = model.partition("/")
    kinds = {"anthropic": "anthropic", "echo": "echo"}
    return {
        "model": model,
        "provider": provider,
        "kind": kinds.get(provider, "openai"),
        "upstream_model": upstream,
        "type": "chat",
        "provider_status": status,
        "listed": True,
        "in_plan": used,
        "weight": 1.0,
        "key_allows": allowed,
        "cooldown": None,
        "params": NO_PARAMS if used else None,
        **extra,
    }


def test_an_alias_lists_every_declared_target_with_its_status(snapshot: Snapshot) -> None:
    assert explain(snapshot, "smart", key="alice") == {
        "model": "smart",
        "served": True,
        "resolves_as": "alias",
        "strategy": "fallback",
        "type": "chat",
        "fallback_on": ["connect", "timeout", "429", "5xx"],
        "auth_required": False,
        "cooldowns_from": None,
        "key": {
            "name": "alice",
            "state": "active",
            "models": ["openai/*", "fast"],
            "may_use": True,
        },
        "targets": [
            target("openai/gpt-4o", "active", True),
            target("anthropic/claude-sonnet-4-5", "missing_key", False, allowed=False),
        ],
    }


def test_the_text_form_is_a_table(snapshot: Snapshot) -> None:
    assert render_text(explain(snapshot, "smart", key="alice")) == "\n".join(
        [
            "smart: alias; strategy fallback; type chat; falls back on connect, timeout, 429, 5xx",
            "key alice: may use it (allowed: openai/*, fast)",
            "",
            "#  target                       kind       status       used     key",
            "1  openai/gpt-4o                openai     active       yes      allowed",
            "2  anthropic/claude-sonnet-4-5  anthropic  missing_key  skipped  not allowed",
        ]
    )


def test_a_weighted_alias_whose_targets_are_all_off(snapshot: Snapshot) -> None:
    # groq and together discover their models; unset keys leave them off, and the alias too.
    result = explain(snapshot, "balanced")
    assert (result["served"], result["strategy"]) == (False, "weighted")
    assert result["reason"] == "No target of the alias 'balanced' is active."
    assert [
        (t["model"], t["weight"], t["provider_status"], t["listed"]) for t in result["targets"]
    ] == [
        ("groq/llama-3.3-70b-versatile", 3.0, "missing_key", False),
        ("together/meta-llama/Llama-3.3-70B-Instruct-Turbo", 1.0, "missing_key", False),
    ]
    assert render_text(result).splitlines()[2].split() == [
        "#",
        "target",
        "weight",
        "kind",
        "status",
        "used",
    ]


@pytest.mark.parametrize(
    ("name", "key", "how", "served", "reason"),
    [
        ("openai/gpt-4o-mini", "alice", "model", True, None),
        ("gpt-4o-mini", "alice", "bare", True, None),
        ("echo-1", "alice", "bare", True, None),  # served, but not to alice
        ("auto", None, "auto", True, None),
        ("tiny", None, "alias", False, "No target of the alias 'tiny' is active."),
        (
            "anthropic/claude-sonnet-4-5",
            None,
            "model",
            False,
            "The provider 'anthropic' is missing_key.",
        ),
        ("ollama/llama3.2", None, "model", False, "The provider 'ollama' is disabled."),
        ("nobody/x", None, "model", False, "No provider 'nobody' is declared."),
        ("openai/gpt-5", None, "model", False, "The provider 'openai' does not list 'gpt-5'."),
    ],
)
def test_each_way_a_name_resolves(
    snapshot: Snapshot, name: str, key: str | None, how: str, served: bool, reason: str | None
) -> None:
    result = explain(snapshot, name, key)
    assert (result["resolves_as"], result["served"], result.get("reason")) == (how, served, reason)
    if key == "alice":
        assert result["key"]["may_use"] is (name != "echo-1")


def test_an_unknown_name_gets_suggestions(snapshot: Snapshot) -> None:
    result = explain(snapshot, "gpt4o")
    assert result["resolves_as"] == "unknown" and result["targets"] == []
    assert result["reason"].startswith("No provider, alias or model is named 'gpt4o'. Try one of:")
    assert "openai/gpt-4o" in result["reason"]


def test_auto_depends_on_the_type(snapshot: Snapshot) -> None:
    assert explain(snapshot, "auto")["targets"][0]["model"] == "echo/echo-1"
    image = explain(snapshot, "auto", model_type="image")
    assert (image["type"], image["targets"][0]["model"]) == ("image", "openai/gpt-image-1")


def test_keys_that_are_off_or_unknown(snapshot: Snapshot) -> None:
    bob = explain(snapshot, "smart", key="bob")["key"]  # a sha256 key with no allow-list
    assert bob == {"name": "bob", "state": "active", "models": None, "may_use": True}
    off = build_snapshot(read_sources(SPEC), WIRE_FORMATS, {**ENVIRON, "ALICE_KEY": ""}, {})
    assert explain(off, "smart", key="alice")["key"] == {
        "name": "alice",
        "state": "off",
        "may_use": False,
    }
    assert explain(snapshot, "smart", key="carol")["key"]["state"] == "undeclared"


def patchbay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", "explain", "--config-dir", str(SPEC), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **ENVIRON},
    )


def test_the_command_prints_and_exits_by_the_verdict(snapshot: Snapshot) -> None:
    served = patchbay("smart", "--key", "alice")
    assert served.returncode == 0
    offline = explain(snapshot, "smart", key="alice", cooldowns_note=IN_MEMORY)
    assert served.stdout == render_text(offline) + "\n"
    assert served.stdout.endswith(f"\ncooldowns: {IN_MEMORY}\n")
    assert patchbay("echo-1", "--key", "alice").returncode == 1  # not allowed
    assert patchbay("tiny").returncode == 1  # not served
    as_json = patchbay("auto", "--type", "embedding", "--json")
    embedding = explain(snapshot, "auto", model_type="embedding", cooldowns_note=IN_MEMORY)
    assert json.loads(as_json.stdout) == embedding


def test_get_admin_explain(snapshot: Snapshot) -> None:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with gateway(SPEC, environ=ENVIRON, no_watch=True) as base:
        status, body = request(
            "GET", base + "/admin/explain?model=smart&key=alice", headers=headers
        )
        live = {"openai/gpt-4o": "ok"}
        expected = explain(
            snapshot, "smart", key="alice", cooldowns=live, cooldowns_from="worker memory"
        )
        assert (status, body) == (200, expected)
        assert body["targets"][0]["cooldown"] == "ok"
        status, body = request(
            "GET", base + "/admin/explain?model=auto&type=image", headers=headers
        )
        assert body["targets"][0]["model"] == "openai/gpt-image-1"
        for query, param in (("", "model"), ("?model=auto&type=audio", "type")):
            status, body = request("GET", base + "/admin/explain" + query, headers=headers)
            assert (status, body["error"]["param"]) == (400, param)
        assert request("GET", base + "/admin/explain?model=smart")[0] == 401
    with gateway(SPEC, environ={**ENVIRON, "PATCHBAY_ADMIN_KEY": ""}, no_watch=True) as base:
        assert request("GET", base + "/admin/explain?model=smart", headers=headers)[0] == 404
