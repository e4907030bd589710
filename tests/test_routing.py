"""Routing policies: fallback chains, strategies, retries with backoff, deadline, cooldowns."""

from __future__ import annotations

import json
import urllib.request
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


def test_cooldown_passes_over_a_failing_deployment_in_an_alias(
    serve: Any, fake_openai: FakeOpenAI
) -> None:
    cooldown = {"failures": 2, "window": 60, "duration": 30}
    aliases = {"chain": ["a/fail-500", "b/gpt-test"], "both": ["a/fail-500", "a/gpt-test"]}
    with serve(aliases, cooldown=cooldown) as url:
        for _ in range(2):  # two failures of `a/fail-500` cool that deployment down
            assert ask(url, "chain")[1]["x-patchbay-attempts"] == "2"
        before = len(fake_openai.requests)
        status, headers, _ = ask(url, "chain")
        assert status == 200 and headers["x-patchbay-attempts"] == "1"  # passed over
        assert len(fake_openai.requests) == before + 1
        # Another model of the same provider is not cooling.
        status, headers, _ = ask(url, "both")
        assert status == 200 and headers["x-patchbay-model"] == "gpt-test"
        assert headers["x-patchbay-attempts"] == "1"
        assert ask(url, "a/gpt-test")[0] == 200
        health = {p["name"]: p.get("health") for p in providers_list(url)}
        assert health["a"]["fail-500"].startswith("cooling (")
        assert health["a"]["gpt-test"] == "ok"


def test_a_single_target_is_always_tried_even_while_cooling(
    serve: Any, fake_openai: FakeOpenAI
) -> None:
    cooldown = {"failures": 1, "window": 60, "duration": 30}
    with serve({"chain": ["a/fail-500", "b/gpt-test"]}, cooldown=cooldown) as url:
        ask(url, "chain")  # cools a/fail-500
        before = len(fake_openai.requests)
        status, _, body = ask(url, "a/fail-500")
        assert status == 502 and body["error"]["code"] == "upstream_error"  # not a 503
        assert len(fake_openai.requests) == before + 1


def test_a_429_is_relayed_with_retry_after_and_cools_for_that_long(
    serve: Any, fake_openai: FakeOpenAI
) -> None:
    cooldown = {"failures": 5, "window": 60, "duration": 600, "max_duration": 60}
    with serve({"chain": ["a/limit-429", "b/gpt-test"]}, cooldown=cooldown) as url:
        status, headers, _ = ask(url, "a/limit-429")
        assert status == 429 and headers["retry-after"] == "7"  # the upstream's
        health = {p["name"]: p.get("health") for p in providers_list(url)}
        assert health["a"]["limit-429"] in {f"cooling ({n} s left)" for n in (6, 7)}
        status, headers, _ = ask(url, "chain")
        assert status == 200 and headers["x-patchbay-provider"] == "b"
        assert headers["x-patchbay-attempts"] == "1"


def test_connection_failures_cool_the_whole_provider(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    providers = _providers(
        fake_openai,
        {"one": ["dead/gpt-test", "b/gpt-test"], "two": ["dead/gpt-other", "b/gpt-other"]},
        cooldown={"failures": 1, "window": 60, "duration": 30},
    )
    providers["providers"]["dead"]["models"] = ["gpt-test", "gpt-other"]
    with gateway(write_config(tmp_path / "cfg", providers)) as url:
        assert ask(url, "one")[1]["x-patchbay-attempts"] == "2"  # refused: cools `dead`
        status, headers, _ = ask(url, "two")  # another model of `dead`: passed over
        assert status == 200 and headers["x-patchbay-attempts"] == "1"


def test_failures_outside_cooldown_on_never_cool(serve: Any, fake_openai: FakeOpenAI) -> None:
    cooldown = {"failures": 1, "window": 60, "duration": 30, "on": ["connect", "timeout"]}
    with serve({"chain": ["a/fail-500", "b/gpt-test"]}, cooldown=cooldown) as url:
        for _ in range(3):
            assert ask(url, "chain")[1]["x-patchbay-attempts"] == "2"  # 5xx does not count


def test_an_alias_whose_every_target_cools_is_a_503_with_retry_after(serve: Any) -> None:
    cooldown = {"failures": 1, "window": 60, "duration": 30}
    with serve({"pair": ["a/fail-500", "dead/gpt-test"]}, cooldown=cooldown) as url:
        assert ask(url, "pair")[0] == 502  # both failed once: both cool
        status, headers, body = ask(url, "pair")
        assert status == 503 and body["error"]["code"] == "no_provider_available"
        assert 1 <= int(headers["retry-after"]) <= 30


def providers_list(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(url + "/v1/providers", timeout=10) as resp:
        data: list[dict[str, Any]] = json.loads(resp.read())["data"]
    return data


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
        health = {p["name"]: p.get("health") for p in providers_list(second)}
        assert health["a"]["fail-500"].startswith("cooling (")
