"""GET /ready stays ready while Redis is unreachable (the gateway serves on local state)
and says so in its body and in `patchbay_shared_state_up`, so that operators are alerted
without every instance leaving the load balancer at once."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.harness import gateway, write_config

PROVIDERS = {"providers": {"echo": {"kind": "echo", "models": ["echo-1"]}}}


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=20) as resp:
        return int(resp.status), bytes(resp.read())


def chat(url: str) -> int:
    body = json.dumps({"model": "echo/echo-1", "messages": [{"role": "user", "content": "hi"}]})
    request = urllib.request.Request(
        url + "/v1/chat/completions", body.encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=20) as resp:
        return int(resp.status)


def shared_state_up(url: str) -> float:
    text = get(url + "/metrics")[1].decode()
    return next(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "patchbay_shared_state_up"
    )


def test_ready_stays_ready_and_reports_redis_down(
    tmp_path: Path, redis_server: tuple[str, subprocess.Popen[bytes]]
) -> None:
    redis_url, redis = redis_server
    server = {"watch": {"enabled": False}, "redis_url": redis_url, "rate_limit": {"rpm": 100}}
    with gateway(write_config(tmp_path, PROVIDERS, server=server)) as url:
        assert chat(url) == 200  # counted in Redis
        status, body = get(url + "/ready")
        assert status == 200
        assert json.loads(body)["shared_state"] == {
            "backend": "redis",
            "ok": True,
            "failing_since": None,
        }
        assert shared_state_up(url) == 1
        redis.terminate()  # the redis-server this test's fixture started
        redis.wait(10)
        before = time.time()
        assert chat(url) == 200  # served on local counts
        status, body = get(url + "/ready")
        state = json.loads(body)["shared_state"]
        assert status == 200 and json.loads(body)["status"] == "ready"
        assert state["backend"] == "redis" and state["ok"] is False
        assert before - 1 <= state["failing_since"] <= time.time()
        assert shared_state_up(url) == 0
