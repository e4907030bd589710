"""Routing policies: fallback chains, strategies, retries with backoff, deadline, cooldowns."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import free_port, gateway, write_config
from tests.test_chat import post


def _providers(fake: FakeOpenAI, aliases: dict[str, Any], **defaults: Any) -> dict[str, Any]:
    def upstream(**extra: Any) -> dict[str, Any]:
        return {"kind": "openai", "base_url": fake.url, "api_key": API_KEY, **extra}

    return {
        "defaults": {"retries": 0, "timeout": 1, **defaults},
        "providers": {
            "a": upstream(models=["gpt-test", "fail-500", "reject-400", "limit-429", "slow"]),
            "b": upstream(models=["gpt-test", "gpt-other"]),
            "dead": {
                "kind": "openai",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "models": ["gpt-test"],
            },
        },
        "aliases": aliases,
    }


@pytest.fixture
def serve(tmp_path: Path, fake_openai: FakeOpenAI) -> Iterator[Any]:
    def start(aliases: dict[str, Any], **defaults: Any) -> Any:
        write_config(tmp_path / "cfg", _providers(fake_openai, aliases, **defaults))
        return gateway(tmp_path / "cfg")

    yield start


def ask(url: str, model: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "x"}]}).encode()
    status, headers, raw = post(url + "/v1/chat/completions", body)
    return status, {k.lower(): v for k, v in headers.items()}, json.loads(raw)


def test_fallback_chain_passes_over_failures_and_counts_attempts(serve: Any) -> None:
    with serve({"chain": ["dead/gpt-test", "a/fail-500", "b/gpt-test"]}) as url:
        status, headers, _ = ask(url, "chain")
    assert status == 200
    assert headers["x-patchbay-provider"] == "b"
    assert headers["x-patchbay-attempts"] == "3"


def test_client_errors_never_fall_through(serve: Any) -> None:
    with serve({"chain": ["a/reject-400", "b/gpt-test"]}) as url:
        status, _, body = ask(url, "chain")
    assert status == 400 and "max_tokens" in body["error"]["message"]


def test_fallback_on_limits_what_falls_through(serve: Any) -> None:
    alias = {
        "targets": [{"model": "a/fail-500"}, {"model": "b/gpt-test"}],
        "fallback_on": ["connect"],
    }
    with serve({"picky": alias}) as url:
        status, _, _ = ask(url, "picky")
    assert status == 502


def test_round_robin_alternates(serve: Any) -> None:
    alias = {
        "strategy": "round_robin",
        "targets": [{"model": "a/gpt-test"}, {"model": "b/gpt-test"}],
    }
    with serve({"rr": alias}) as url:
        served = [ask(url, "rr")[1]["x-patchbay-provider"] for _ in range(6)]
    assert served in (["a", "b"] * 3, ["b", "a"] * 3)


def test_weighted_follows_the_weights(serve: Any) -> None:
    alias = {
        "strategy": "weighted",
        "targets": [{"model": "a/gpt-test", "weight": 3}, {"model": "b/gpt-test", "weight": 1}],
    }
    with serve({"w": alias}) as url:
        counts = Counter(ask(url, "w")[1]["x-patchbay-provider"] for _ in range(200))
    assert 0.6 < counts["a"] / 200 < 0.9  # expected 0.75; the band is about five sigma wide


def test_least_busy_prefers_the_idle_target(serve: Any) -> None:
    alias = {
        "strategy": "least_busy",
        "targets": [{"model": "a/gpt-test"}, {"model": "b/gpt-test"}],
    }
    with serve({"lb": alias}) as url:
        # Sequential requests leave both idle: the declared order decides.
        assert {ask(url, "lb")[1]["x-patchbay-provider"] for _ in range(3)} == {"a"}


def test_retries_back_off_and_are_counted(serve: Any, fake_openai: FakeOpenAI) -> None:
    with serve({}, retries=2, retry_backoff={"initial": 0.01, "max": 0.05}) as url:
        status, headers, _ = ask(url, "a/fail-500")
    assert status == 502 and headers["x-patchbay-attempts"] == "3"
    assert sum(1 for r in fake_openai.requests if r.path.endswith("/chat/completions")) == 3


def test_deadline_bounds_all_attempts(serve: Any) -> None:
    # The first attempt times out after 1 s and falls back; the deadline cuts the second.
    with serve({"slowchain": ["a/slow", "a/slow"]}, deadline=1.5, timeout=1) as url:
        status, headers, body = ask(url, "slowchain")
    assert status == 504
    assert "within the 1.5 s deadline" in body["error"]["message"]
    assert headers["x-patchbay-attempts"] == "2"


def test_cooldown_skips_a_failing_provider_then_503(serve: Any, fake_openai: FakeOpenAI) -> None:
    cooldown = {"failures": 2, "window": 60, "duration": 30}
    with serve({"chain": ["a/fail-500", "b/gpt-test"]}, cooldown=cooldown) as url:
        for _ in range(2):  # two failures of `a` cool it down
            assert ask(url, "chain")[1]["x-patchbay-attempts"] == "2"
        before = len(fake_openai.requests)
        status, headers, _ = ask(url, "chain")
        assert status == 200 and headers["x-patchbay-attempts"] == "1"  # `a` was passed over
        assert len(fake_openai.requests) == before + 1
        status, headers, body = ask(url, "a/fail-500")
        assert status == 503 and body["error"]["code"] == "no_provider_available"
        assert 1 <= int(headers["retry-after"]) <= 30


def test_cooldowns_are_shared_through_redis(
    tmp_path: Path, fake_openai: FakeOpenAI, redis_url: str
) -> None:
    """Failures seen by one gateway cool the provider for another sharing the Redis."""
    cooldown = {"failures": 2, "window": 60, "duration": 30}
    providers = _providers(fake_openai, {"chain": ["a/fail-500", "b/gpt-test"]}, cooldown=cooldown)
    one = write_config(tmp_path / "one", providers, server={"redis_url": redis_url})
    two = write_config(tmp_path / "two", providers, server={"redis_url": redis_url})
    with gateway(one) as first, gateway(two) as second:
        for _ in range(2):
            assert ask(first, "chain")[1]["x-patchbay-attempts"] == "2"
        status, headers, _ = ask(second, "chain")
        assert status == 200 and headers["x-patchbay-attempts"] == "1"
        assert ask(second, "a/fail-500")[0] == 503
