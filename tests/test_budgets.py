"""Budgets per client key: windows, the allowance routing respects, spend across two
workers and two instances over a real redis-server, and GET /v1/usage."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.config.settings import Budget, ClientKey
from engine.providers.base import Model, Provider
from engine.providers.prices import Price
from engine.snapshot.model import Target
from engine.spend.budgets import Budgets
from engine.spend.windows import span
from engine.stores.shared import SharedState
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import free_port, gateway, write_config
from tests.reload_helpers import wait_for
from tests.spend_harness import (
    ADMIN,
    ALICE,
    BOB,
    GPT_COST,
    chat_body,
    priced_providers,
    send,
    spent_on,
    stream_events,
    usage_report,
)

NOON = datetime(2026, 12, 9, 12, 0, tzinfo=UTC).timestamp()  # a Wednesday


# --- windows -----------------------------------------------------------------------------


def test_calendar_windows_reset_at_the_end_of_their_period() -> None:
    assert span("day", NOON).ends == (datetime(2026, 12, 10, tzinfo=UTC).timestamp(),)
    week = span("week", NOON)
    assert week.buckets == ("week:2026-12-07",)  # from Monday
    assert week.ends == (datetime(2026, 12, 14, tzinfo=UTC).timestamp(),)
    month = span("month", NOON)
    assert month.buckets == ("month:2026-12-01",)
    assert month.ends == (datetime(2027, 1, 1, tzinfo=UTC).timestamp(),)
    assert month.ttl > month.ends[0] - NOON  # the counter outlives its month


def test_rolling_windows_count_in_slices_that_fall_out_one_by_one() -> None:
    thirty = span("30d", NOON)
    assert len(thirty.buckets) == 30 and thirty.ends[-1] - thirty.ends[0] == 29 * 86400
    assert len(span("1h", NOON).buckets) == 12  # five-minute slices
    assert len(span("24h", NOON).buckets) == 24
    # 5 spent in the oldest slice, 3 in the newest: under a limit of 6 once the oldest leaves.
    amounts = [5] + [0] * 28 + [3]
    assert thirty.resets_at(amounts, 6) == thirty.ends[0]
    assert thirty.resets_at(amounts, 3) == thirty.ends[-1]


def _target(provider: str, price: Price | None) -> Target:
    spec = Provider(provider, "openai", "active", "", None, 1.0, {})
    return Target(spec, Model("m", price=price), adapter=None)  # type: ignore[arg-type]


def test_a_spent_budget_refuses_only_priced_models_of_the_providers_it_covers() -> None:
    key = ClientKey(
        "alice",
        "0" * 64,
        budgets=(Budget(1.0, "day"), Budget(0.5, "month", provider="openai")),
    )
    budgets = Budgets(SharedState(), clock=lambda: NOON)
    priced = Price(input_per_mtok=1.0)

    async def scenario() -> None:
        await budgets.charge(key, "openai", 600_000_000, None)  # $0.60: openai's $0.50 spent
        allowance = await budgets.standing(key, None)
        assert allowance is not None and allowance.spent() == "0.6"
        assert allowance.refuses(_target("groq", priced)) is None
        refused = allowance.refuses(_target("openai", priced))
        assert refused is not None and refused.status == 429
        assert "$0.6 of $0.5 spent this month at provider 'openai'" in refused.message
        assert "It resets at 2027-01-01T00:00:00Z" in refused.message
        assert allowance.refuses(_target("openai", Price())) is None  # free
        assert allowance.refuses(_target("openai", None)) is None  # no price known
        await budgets.charge(key, "groq", 400_000_000, None)  # $1.00 at every provider
        allowance = await budgets.standing(key, None)
        assert allowance is not None and allowance.refuses(_target("groq", priced)) is not None

    asyncio.run(scenario())


# --- one worker, in memory ------------------------------------------------------------------


def budget_server(redis_url: str | None = None, **budgets: Any) -> dict[str, Any]:
    """server.yaml with the admin key and alice and bob, each with the budget given."""
    keys = [
        {"name": "alice", "key": "${ALICE_KEY}", "budget": budgets.get("alice", [])},
        {"name": "bob", "key": "${BOB_KEY}", "budget": budgets.get("bob", [])},
    ]
    keys = [k if k["budget"] else {n: v for n, v in k.items() if n != "budget"} for k in keys]
    server: dict[str, Any] = {
        "auth": {"required": True, "admin_key": "${PATCHBAY_ADMIN_KEY}", "keys": keys},
        "watch": {"enabled": False},
    }
    if redis_url is not None:
        server["redis_url"] = redis_url
    return server


KEYS_ENV = {"ALICE_KEY": ALICE, "BOB_KEY": BOB, "PATCHBAY_ADMIN_KEY": ADMIN}


@pytest.fixture
def keys_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", API_KEY)
    for name, value in KEYS_ENV.items():
        monkeypatch.setenv(name, value)


def chat(base: str, key: str, model: str = "up/gpt-test", **extra: Any) -> tuple[int, Any, Any]:
    status, headers, raw = send(
        "POST", base + "/v1/chat/completions", chat_body(model, **extra), key
    )
    return status, headers, raw if extra.get("stream") else json.loads(raw)


@pytest.mark.usefixtures("keys_env")
def test_over_budget_an_alias_falls_to_its_free_target_and_spend_shows(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    providers = priced_providers(fake_openai.url, aliases={"cheap": ["up/gpt-test", "echo/echo-1"]})
    server = budget_server(alice={"usd": 2 * GPT_COST, "window": "day"})
    with gateway(write_config(tmp_path, providers, server=server)) as base:
        first = chat(base, ALICE, "cheap")
        assert (
            first[1]["x-patchbay-provider"] == "up"
            and first[1]["x-patchbay-key-spend"] == "0.000066"
        )
        second = chat(base, ALICE, "cheap")
        assert second[1]["x-patchbay-key-spend"] == "0.000132"
        third = chat(base, ALICE, "cheap")  # spent: only the free target is left
        assert third[0] == 200 and third[1]["x-patchbay-provider"] == "echo"
        assert third[1]["x-patchbay-cost"] == "0"
        refused = chat(base, ALICE)
        assert refused[0] == 429 and refused[2]["error"]["type"] == "insufficient_quota"
        assert chat(base, BOB)[0] == 200  # bob has no budget


@pytest.mark.usefixtures("keys_env")
def test_the_usage_report_shows_each_key_its_own_and_the_admin_everyone(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    server = budget_server(alice={"usd": 1, "window": "7d"})
    with gateway(write_config(tmp_path, priced_providers(fake_openai.url), server=server)) as base:
        chat(base, ALICE)
        chat(base, ALICE, "up/unpriced-test")
        chat(base, BOB, "echo/echo-1")
        everyone = usage_report(base)
        assert {(r["key"], r["model"]) for r in everyone["data"]} == {
            ("alice", "up/gpt-test"),
            ("alice", "up/unpriced-test"),
            ("bob", "echo/echo-1"),
        }
        own = usage_report(base, ALICE)
        assert {r["key"] for r in own["data"]} == {"alice"} and own["key"] == "alice"
        [gpt] = [r for r in own["data"] if r["model"] == "up/gpt-test"]
        assert gpt["requests"] == 1 and gpt["prompt_tokens"] == 5 and gpt["completion_tokens"] == 7
        assert gpt["cost_usd"] == pytest.approx(GPT_COST)
        [unpriced] = [r for r in own["data"] if r["model"] == "up/unpriced-test"]
        assert unpriced["cost_usd"] is None and unpriced["unpriced_requests"] == 1
        assert own["total_cost_usd"] == pytest.approx(GPT_COST)
        [budget] = own["budgets"]
        assert budget["window"] == "7d" and budget["spent_usd"] == pytest.approx(GPT_COST)
        assert {r["key"] for r in usage_report(base, ADMIN, key="bob")["data"]} == {"bob"}
        assert send("GET", base + "/v1/usage")[0] == 401
        assert send("GET", base + "/v1/usage?start=2026-13-01", key=ALICE)[0] == 400


def test_without_keys_or_an_admin_key_the_usage_report_is_not_there(gateway_url: str) -> None:
    status, _, raw = send("GET", gateway_url + "/v1/usage")
    assert status == 404 and json.loads(raw)["error"]["code"] == "not_found"


# --- shared in Redis: two instances, then two workers -------------------------------------


@pytest.mark.usefixtures("keys_env")
def test_two_instances_on_one_redis_share_a_keys_budget_exactly(
    tmp_path: Path, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    server = budget_server(redis_url, alice={"usd": 3 * GPT_COST, "window": "month"})
    config = write_config(tmp_path, priced_providers(fake_openai.url), server=server)
    with gateway(config) as one, gateway(config) as two:
        statuses = [chat(base, ALICE)[0] for base in (one, two, one, two, one)]
        assert statuses == [200, 200, 200, 429, 429]
        assert spent_on(one, "up/gpt-test") == pytest.approx(3 * GPT_COST)


@pytest.fixture
def two_workers(tmp_path: Path, fake_openai: FakeOpenAI, redis_url: str) -> Iterator[str]:
    """`patchbay serve --workers 2` on a loopback port, budgets counted in Redis."""
    budgets = {
        "alice": {"usd": 3 * GPT_COST, "window": "day"},
        "bob": {"usd": 2.5 * GPT_COST, "window": "30d"},
    }
    config = write_config(
        tmp_path / "cfg",
        priced_providers(fake_openai.url),
        server=budget_server(redis_url, **budgets),
    )
    port = free_port()
    command = [sys.executable, "-m", "engine", "serve", "--config-dir", str(config)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    env = {**os.environ, "FAKE_UPSTREAM_KEY": API_KEY, **KEYS_ENV}
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        pids: set[int] = set()

        def both_workers() -> bool:
            try:
                status, _, raw = send("GET", base + "/admin/config", key=ADMIN)
            except OSError:
                return False
            pids.add(json.loads(raw)["pid"]) if status == 200 else None
            return len(pids) == 2

        wait_for(both_workers, "two workers answering", deadline=30)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)  # this PID only: the server this fixture started
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        print((tmp_path / "serve.log").read_text())  # shown when the test failed


def test_two_workers_let_through_exactly_the_requests_that_fit_the_budget(
    two_workers: str,
) -> None:
    base = two_workers
    # Fresh connections land on either worker; the budget is counted in Redis.
    assert [chat(base, ALICE)[0] for _ in range(3)] == [200, 200, 200]
    status, headers, body = chat(base, ALICE)
    assert status == 429 and body["error"]["code"] == "insufficient_quota"
    assert body["error"]["type"] == "insufficient_quota"
    assert (
        "Budget exhausted for API key 'alice': $0.000198 of $0.000198 spent this day"
        in (body["error"]["message"])
    )
    assert "It resets at " in body["error"]["message"] and int(headers["Retry-After"]) > 0
    assert all(chat(base, ALICE)[0] == 429 for _ in range(8))  # on both workers
    assert chat(base, ALICE, "echo/echo-1")[0] == 200  # a free model still passes
    assert spent_on(base, "up/gpt-test") == pytest.approx(3 * GPT_COST)


def test_a_stream_admitted_under_budget_completes_and_is_charged(two_workers: str) -> None:
    base = two_workers
    assert [chat(base, BOB)[0] for _ in range(2)] == [200, 200]  # 2 of 2.5 spent
    status, _, raw = chat(base, BOB, stream=True)  # crosses the budget as it ends
    events = stream_events(raw)
    assert status == 200 and events[-1] == "[DONE]"
    assert (
        "".join(e["choices"][0]["delta"].get("content") or "" for e in events[:-1] if e["choices"])
        == "upstream says: hi there"
    )
    assert chat(base, BOB)[0] == 429
    [row] = [r for r in usage_report(base, BOB)["data"] if r["model"] == "up/gpt-test"]
    assert row["requests"] == 3 and row["cost_usd"] == pytest.approx(3 * GPT_COST)
