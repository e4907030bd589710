"""`explain` shows each target's parameter policy and cooldown state: on the golden
config-policies offline, from Redis for the command, and live at GET /admin/explain."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.config import read_sources
from engine.handlers import WIRE_FORMATS
from engine.live.reload import build_snapshot
from engine.routing.cooldowns import deployment_key
from engine.routing.explain import explain, render_text
from engine.snapshot.describe import describe
from engine.snapshot.model import Snapshot
from engine.stores.base import Cooldown
from engine.stores.redis_store import RedisState
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import free_port, gateway, write_config
from tests.reload_helpers import request
from tests.test_chat import post

POLICIES = Path(__file__).parent / "configs" / "config-policies"
ADMIN = "explain-policies-admin"
ENVIRON = {
    "GROQ_API_KEY": "gsk-test",
    "AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com",
    "AZURE_OPENAI_API_KEY": "azure-test",
    "PATCHBAY_ADMIN_KEY": ADMIN,
}
GROQ = {
    "defaults": {"seed": 7},
    "override": {"max_tokens": 8192, "temperature": 0},
    "drop": ["logit_bias", "logprobs", "top_logprobs"],
}
AZURE = {"defaults": {"max_tokens": 1024, "seed": 7}, "override": {"temperature": 0}, "drop": []}


def compiled(environ: dict[str, str]) -> Snapshot:
    return build_snapshot(read_sources(POLICIES), WIRE_FORMATS, environ, {})


def test_each_target_shows_its_layered_parameter_policy() -> None:
    result = explain(compiled(ENVIRON), "steady")
    assert [(t["model"], t["params"], t["cooldown"]) for t in result["targets"]] == [
        ("groq/llama-3.3-70b-versatile", GROQ, None),
        ("azure/gpt-4o", AZURE, None),
    ]
    direct = explain(compiled(ENVIRON), "groq/llama-3.1-8b-instant")["targets"][0]["params"]
    assert direct == {"defaults": {}, "override": {}, "drop": GROQ["drop"]}


def test_the_text_form_has_a_params_column() -> None:
    text = render_text(explain(compiled(ENVIRON), "steady", cooldowns_note="not read here"))
    assert text.splitlines()[2:] == [
        "#  target                        kind    status  used  params",
        "1  groq/llama-3.3-70b-versatile  openai  active  yes   defaults seed=7; override"
        " max_tokens=8192, temperature=0; drop logit_bias, logprobs, top_logprobs",
        "2  azure/gpt-4o                  openai  active  yes   defaults max_tokens=1024,"
        " seed=7; override temperature=0",
        "",
        "cooldowns: not read here",
    ]


def test_a_skipped_target_has_neither_policy_nor_cooldown() -> None:
    result = explain(compiled({**ENVIRON, "GROQ_API_KEY": ""}), "steady", cooldowns={})
    first, second = result["targets"]
    assert (first["in_plan"], first["params"], first["cooldown"]) == (False, None, None)
    assert second["params"] == AZURE


def patchbay(*args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", "explain", "--config-dir", str(POLICIES), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **ENVIRON, **environ},
    )


async def _cool_and_fail(redis_url: str) -> None:
    store = RedisState(redis_url)
    try:
        await store.cool(deployment_key("groq", "llama-3.3-70b-versatile"), 20)
        await store.failed(deployment_key("azure", "gpt-4o"), Cooldown(failures=3))
    finally:
        await store.close()


def test_the_command_reads_cooldowns_from_redis(redis_url: str) -> None:
    asyncio.run(_cool_and_fail(redis_url))
    found = patchbay("steady", "--json", PATCHBAY_REDIS_URL=redis_url)
    assert found.returncode == 0, found.stderr
    result = json.loads(found.stdout)
    assert result["cooldowns_from"] == "redis"
    states = [t["cooldown"] for t in result["targets"]]
    left = re.fullmatch(r"cooling \((\d+) s left\)", states[0])
    assert left is not None and 1 <= int(left.group(1)) <= 20, states[0]
    assert states[1] == "failing"
    text = patchbay("steady", PATCHBAY_REDIS_URL=redis_url).stdout
    assert "cooldown" in text.splitlines()[2] and "failing" in text.splitlines()[4]
    assert text.endswith("cooldowns: read from redis\n")


def test_the_command_says_when_redis_does_not_answer() -> None:
    found = patchbay("steady", "--json", PATCHBAY_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert found.returncode == 0, found.stderr
    result = json.loads(found.stdout)
    assert result["cooldowns_from"] is None
    assert result["cooldowns_note"] == "not known: the Redis at redis_url did not answer"
    assert [t["cooldown"] for t in result["targets"]] == [None, None]


def test_get_admin_explain_shows_what_this_worker_sees(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    providers: dict[str, Any] = {
        "defaults": {"retries": 0, "timeout": 5, "cooldown": {"failures": 1, "duration": 30}},
        "providers": {
            "up": {
                "kind": "openai",
                "base_url": fake_openai.url,
                "api_key": API_KEY,
                "params": {"drop": ["seed"]},
                "models": ["fail-500", "gpt-test"],
            }
        },
        "aliases": {"chain": ["up/fail-500", "up/gpt-test"]},
    }
    server = {"auth": {"admin_key": ADMIN}}
    write_config(tmp_path / "cfg", providers, server=server)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with gateway(tmp_path / "cfg") as url:
        body = {"model": "chain", "messages": [{"role": "user", "content": "x"}]}
        assert post(url + "/v1/chat/completions", json.dumps(body).encode())[0] == 200
        status, result = request("GET", url + "/admin/explain?model=chain", headers=headers)
    assert status == 200
    assert result["cooldowns_from"] == "worker memory"
    first, second = result["targets"]
    assert first["cooldown"] in ("cooling (30 s left)", "cooling (29 s left)")
    assert second["cooldown"] == "ok"
    assert first["params"] == {"defaults": {}, "override": {}, "drop": ["seed"]}


@pytest.mark.parametrize("model", ["steady", "nobody/x"])
def test_the_json_form_is_plain_json(model: str) -> None:
    result = explain(compiled(ENVIRON), model, cooldowns={}, cooldowns_from="redis")
    assert json.loads(json.dumps(result)) == result


def test_the_config_view_shows_forwarded_names_and_hides_header_and_query_values() -> None:
    azure = describe(compiled(ENVIRON), ENVIRON)["providers"]["azure"]
    assert azure["headers"] == {"set": {"X-Title": "<secret>"}, "forward": ["OpenAI-Organization"]}
    assert azure["query"] == {"api-version": "<secret>"}
    assert azure["auth"] == {"type": "header", "header": "api-key"}
    assert azure["params"] == {"defaults": {"max_tokens": 1024}}
