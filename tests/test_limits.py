"""Rate limits (`rpm`, `tpm`) in memory and in a real redis-server, and `request_timeout`.

Limit windows are wall-clock minutes, so every test that counts freezes the limiter's
clock: a minute boundary can never fall between two requests of one test.
"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import openai
import pytest
from quart import Quart

import tests.harness
from engine import create_app
from engine.access.guard import quota_for
from engine.access.limits import Limiter, Quota
from engine.config.settings import ClientKey, RateLimit
from engine.errors import RateLimited
from engine.formats import OPENAI
from engine.formats.tally import StreamTally
from engine.http.deadlines import DeadlinePassed, Deadlines
from engine.runtime import Runtime
from engine.stores.memory import MemoryCounters
from engine.stores.shared import SharedState
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import free_port, gateway, write_config

ADMIN = "admin-key-for-limits"
ALICE = "sk-alice-limits"
START = 1_800_000_000.0 + 10  # ten seconds into a minute


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> str | None:
    """None for in-memory counters, else the URL of a fresh redis-server."""
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue("redis_url")
    return url


# --- the Limiter itself ------------------------------------------------------------------


def test_memory_counters_expire_after_their_ttl() -> None:
    clock = Clock(0.0)
    counters = MemoryCounters(clock)

    async def scenario() -> None:
        assert await counters.add({"a": 1, "b": 5}, 60) == [1, 5]
        assert await counters.add({"a": 2}, 60) == [3]
        clock.now = 61.0
        assert await counters.add({"a": 1, "b": 0}, 60) == [1, 0]

    asyncio.run(scenario())


def test_rpm_counts_requests_per_minute(store: str | None) -> None:
    clock = Clock()
    limiter = Limiter(SharedState(), clock)
    quota = Quota("key:alice", rpm=2, tpm=None)

    async def scenario() -> None:
        try:
            first = await limiter.admit(quota, store)
            second = await limiter.admit(quota, store)
            assert first["x-ratelimit-remaining-requests"] == "1"
            assert second["x-ratelimit-remaining-requests"] == "0"
            with pytest.raises(RateLimited) as limited:
                await limiter.admit(quota, store)
            assert limited.value.headers["Retry-After"] == "50"  # to the end of the minute
            assert "alice" in limited.value.message
            assert (await limiter.admit(Quota("key:bob", 2, None), store)) != {}  # per client
            clock.now += 50  # the next minute
            assert (await limiter.admit(quota, store))["x-ratelimit-remaining-requests"] == "1"
        finally:
            await limiter.state.close()

    asyncio.run(scenario())


def test_tpm_refuses_once_the_minute_used_its_tokens(store: str | None) -> None:
    limiter = Limiter(SharedState(), Clock())
    quota = Quota("ip:10.0.0.1", rpm=None, tpm=100)

    async def scenario() -> None:
        try:
            await limiter.admit(quota, store)
            await limiter.charge(quota, 60, store)
            headers = await limiter.admit(quota, store)
            assert headers["x-ratelimit-remaining-tokens"] == "40"
            await limiter.charge(quota, 50, store)
            with pytest.raises(RateLimited, match="100 tokens per minute"):
                await limiter.admit(quota, store)
        finally:
            await limiter.state.close()

    asyncio.run(scenario())


def test_redis_counters_are_shared_between_limiters(redis_url: str) -> None:
    clock = Clock()
    worker_a, worker_b = Limiter(SharedState(), clock), Limiter(SharedState(), clock)
    quota = Quota("key:alice", rpm=2, tpm=None)

    async def scenario() -> None:
        try:
            await worker_a.admit(quota, redis_url)
            await worker_b.admit(quota, redis_url)
            with pytest.raises(RateLimited):
                await worker_a.admit(quota, redis_url)
        finally:
            await worker_a.state.close()
            await worker_b.state.close()

    asyncio.run(scenario())


def test_an_unreachable_redis_leaves_the_request_unlimited_then_the_worker_counts() -> None:
    limiter = Limiter(SharedState(), Clock())
    down = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    quota = Quota("key:a", rpm=1, tpm=None)

    async def scenario() -> None:
        try:
            assert await limiter.admit(quota, down) == {}  # Redis failed: not limited
            # The breaker is open: this worker's memory counts the next requests.
            assert (await limiter.admit(quota, down))["x-ratelimit-remaining-requests"] == "0"
            with pytest.raises(RateLimited):
                await limiter.admit(quota, down)
        finally:
            await limiter.state.close()

    asyncio.run(scenario())


def test_quota_prefers_the_keys_own_limits_and_limits_anonymous_clients_per_address() -> None:
    defaults = RateLimit(rpm=10, tpm=1000)
    alice = ClientKey("alice", "0" * 64, rpm=3)
    assert quota_for(alice, defaults, "10.1.1.1") == Quota("key:alice", 3, 1000)
    assert quota_for(None, defaults, "10.1.1.1") == Quota("ip:10.1.1.1", 10, 1000)
    assert quota_for(None, RateLimit(), "10.1.1.1") is None


def test_stream_tally_prefers_reported_usage_over_the_estimate() -> None:
    tally = StreamTally(b"x" * 40, OPENAI)
    tally.see(b'data: {"choices": [{"delta": {"content": "abcdefgh"}}]}\n\n')
    assert tally.tokens == 10 + 2
    usage = b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}\n\n'
    tally.see(
        b'data:{"choices": [{"delta": {"content": "more"}}]}\n\n' + usage + b"data: [DONE]\n\n"
    )
    assert tally.tokens == 7


def test_stream_tally_reads_batches_of_events_and_tool_arguments() -> None:
    tally = StreamTally(b"", OPENAI)
    call = {"function": {"arguments": '{"city": "Oslo"}'}}
    chunks = [
        {"choices": [{"delta": {"content": "abcd"}}]},
        {"choices": [{"delta": {"tool_calls": [call]}}]},
    ]
    tally.see(b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks))
    assert tally.tokens == 1 + 4  # 4 characters of content, 16 of arguments


# --- through the gateway -----------------------------------------------------------------

PROVIDERS: dict[str, Any] = {
    "defaults": {"provider": "echo"},
    "providers": {"echo": {"kind": "echo", "models": ["echo-1"]}},
}


@pytest.fixture
def runtimes(monkeypatch: pytest.MonkeyPatch) -> list[Runtime]:
    """The Runtime of every gateway the test starts, to freeze its limiter's clock."""
    made: list[Runtime] = []

    def create(*args: Any, **kwargs: Any) -> Quart:
        app = create_app(*args, **kwargs)
        made.append(app.config["PATCHBAY_RUNTIME"])
        return app

    monkeypatch.setattr(tests.harness, "create_app", create)
    monkeypatch.setenv("PATCHBAY_ADMIN_KEY", ADMIN)
    monkeypatch.setenv("ALICE_KEY", ALICE)
    return made


def frozen(runtimes: list[Runtime]) -> Clock:
    clock = Clock()
    for runtime in runtimes:
        runtime.guard.limiter.clock = clock
    return clock


def server_config(**settings: Any) -> dict[str, Any]:
    return {"watch": {"enabled": False}, "auth": {"admin_key": "${PATCHBAY_ADMIN_KEY}"}, **settings}


def post(url: str, body: dict[str, Any], key: str | None = None) -> tuple[int, Message, Any]:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, json.loads(err.read())


def chat(url: str, key: str | None = None, **extra: Any) -> tuple[int, Message, Any]:
    body = {"model": "echo/echo-1", "messages": [{"role": "user", "content": "hi there"}]}
    return post(url + "/v1/chat/completions", {**body, **extra}, key)


def reload(url: str) -> None:
    assert post(url + "/admin/reload", {}, ADMIN)[0] == 200


def test_anonymous_clients_get_429_with_retry_after(
    tmp_path: Path, runtimes: list[Runtime]
) -> None:
    cfg = write_config(tmp_path, PROVIDERS, server=server_config(rate_limit={"rpm": 2}))
    with gateway(cfg) as url:
        frozen(runtimes)
        assert chat(url)[0] == 200
        status, headers, _ = chat(url)
        assert status == 200 and headers["x-ratelimit-remaining-requests"] == "0"
        status, headers, body = chat(url)
        assert status == 429
        assert headers["Retry-After"] == "50"
        assert body["error"]["code"] == "rate_limit_exceeded"
        sdk = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=20)
        with pytest.raises(openai.RateLimitError):
            sdk.models.list()
        assert post(url + "/health", {})[0] != 429  # probes are never limited


def test_keys_use_their_own_limits_else_the_defaults(
    tmp_path: Path, runtimes: list[Runtime]
) -> None:
    bob = "sk-bob-limits"
    keys = [
        {"name": "alice", "key": "${ALICE_KEY}", "rpm": 3},
        {"name": "bob", "key": bob},
    ]
    server = server_config(rate_limit={"rpm": 1}, auth={"required": True, "keys": keys})
    with gateway(write_config(tmp_path, PROVIDERS, server=server)) as url:
        frozen(runtimes)
        assert [chat(url, ALICE)[0] for _ in range(4)] == [200, 200, 200, 429]
        assert [chat(url, bob)[0] for _ in range(2)] == [200, 429]


def test_tpm_charges_usage_of_answers_and_streams(tmp_path: Path, runtimes: list[Runtime]) -> None:
    # echo's usage for "hi there": 2 prompt + 2 completion tokens.
    cfg = write_config(tmp_path, PROVIDERS, server=server_config(rate_limit={"tpm": 10}))
    with gateway(cfg) as url:
        clock = frozen(runtimes)
        assert [chat(url)[0] for _ in range(4)] == [200, 200, 200, 429]  # 0, 4, 8, then 12
        clock.now += 60
        sdk = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=20)
        for _ in range(3):
            stream = sdk.chat.completions.create(
                model="echo/echo-1",
                messages=[{"role": "user", "content": "hi there"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            assert list(stream)[-1].usage is not None
        assert chat(url)[0] == 429
        clock.now += 60
        status, _, raw = chat(url, stream=True)  # the client did not ask for usage; Patchbay did
        assert status == 200 and raw.endswith(b"data: [DONE]\n\n") and b"usage" not in raw
        assert [chat(url)[0] for _ in range(3)] == [200, 200, 429]  # 4 from the stream, 8, 12
        never_asked = {"echo": {**PROVIDERS["providers"]["echo"], "stream_usage": False}}
        write_config(
            tmp_path,
            {**PROVIDERS, "providers": never_asked},
            server=server_config(rate_limit={"tpm": 10}),
        )
        reload(url)
        clock.now += 60
        status, _, raw = chat(url, stream=True)  # no usage chunk: the estimate is charged
        assert status == 200 and raw.endswith(b"data: [DONE]\n\n")
        assert chat(url)[0] == 429  # the request alone is estimated at more than 10 tokens


def test_limit_changes_apply_live_and_counts_survive_reloads(
    tmp_path: Path, runtimes: list[Runtime]
) -> None:
    cfg = write_config(tmp_path, PROVIDERS, server=server_config(rate_limit={"rpm": 2}))
    with gateway(cfg) as url:
        frozen(runtimes)
        assert [chat(url)[0] for _ in range(3)] == [200, 200, 429]
        write_config(cfg, PROVIDERS, server=server_config(rate_limit={"rpm": 4}))
        reload(url)
        assert [chat(url)[0] for _ in range(2)] == [200, 429]  # 3 were counted already
        write_config(cfg, PROVIDERS, server=server_config())
        reload(url)
        assert chat(url)[0] == 200
        assert "x-ratelimit-remaining-requests" not in chat(url)[1]


def test_instances_sharing_a_redis_share_limits(
    tmp_path: Path, runtimes: list[Runtime], redis_url: str
) -> None:
    server = server_config(rate_limit={"rpm": 3}, redis_url=redis_url)
    cfg = write_config(tmp_path, PROVIDERS, server=server)
    with gateway(cfg) as first, gateway(cfg) as second:
        frozen(runtimes)
        assert [chat(first)[0], chat(second)[0], chat(first)[0]] == [200, 200, 200]
        assert chat(second)[0] == 429
        assert chat(first)[0] == 429


def test_redis_url_from_the_environment(
    tmp_path: Path,
    runtimes: list[Runtime],
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATCHBAY_REDIS_URL", redis_url)
    cfg = write_config(tmp_path, PROVIDERS, server=server_config(rate_limit={"rpm": 1}))
    with gateway(cfg) as first, gateway(cfg) as second:
        frozen(runtimes)
        assert [chat(first)[0], chat(second)[0]] == [200, 429]


# --- request_timeout ---------------------------------------------------------------------


def slow_providers(fake_url: str) -> dict[str, Any]:
    return {
        "defaults": {"provider": "up", "timeout": 2, "retries": 0},
        "providers": {
            "up": {
                "kind": "openai",
                "base_url": fake_url,
                "api_key": "${FAKE_UPSTREAM_KEY}",
                "models": ["slow", "gpt-test"],
            }
        },
    }


@pytest.fixture
def slow_upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], str]]:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", API_KEY)
    with FakeOpenAI(("slow", "gpt-test")).in_thread() as fake:
        yield lambda: fake.url


def test_request_timeout_answers_504(tmp_path: Path, slow_upstream: Callable[[], str]) -> None:
    # The fake answers `slow` after 3 s; the provider's timeout is 2 s; request_timeout wins.
    server = server_config(request_timeout=0.3)
    with gateway(write_config(tmp_path, slow_providers(slow_upstream()), server=server)) as url:
        body = {"model": "up/slow", "messages": [{"role": "user", "content": "hi"}]}
        status, _, error = post(url + "/v1/chat/completions", body)
        assert status == 504
        assert error["error"]["code"] == "request_timeout"
        assert "0.3" in error["error"]["message"]
        body["model"] = "up/gpt-test"
        assert post(url + "/v1/chat/completions", body)[0] == 200


def test_a_body_that_stops_arriving_answers_408_within_request_timeout(tmp_path: Path) -> None:
    """A client that sends fewer bytes than its Content-Length no longer holds the
    connection (and a task) for as long as it likes: request_timeout counts from arrival."""
    server = server_config(request_timeout=0.5)
    with gateway(write_config(tmp_path, PROVIDERS, server=server)) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model"'
            )
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = sock.recv(4096)  # a timeout here (10 s) fails the test
                if not chunk:
                    break
                answer += chunk
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408")
        error = json.loads(payload)["error"]
        assert error["code"] == "request_timeout" and "0.5" in error["message"]
        assert chat(url)[0] == 200  # the worker serves on


def test_deadlines_tell_their_own_expiry_from_other_cancellations() -> None:
    async def bounded(deadlines: Deadlines, seconds: float, work: Awaitable[str]) -> str:
        with deadlines.within(seconds):
            return await work

    async def scenario() -> None:
        deadlines = Deadlines()
        with pytest.raises(DeadlinePassed):
            await bounded(deadlines, 0.05, asyncio.sleep(5, "late"))
        task = asyncio.ensure_future(bounded(deadlines, 10, asyncio.sleep(5, "late")))
        await asyncio.sleep(0)
        task.cancel()  # e.g. the server dropping the request: not a timeout
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await bounded(deadlines, 0.05, asyncio.sleep(0, "done")) == "done"

    asyncio.run(scenario())


def test_long_limits_keep_a_bounded_number_of_timers() -> None:
    """A limit of 300 s taken every 50 ms for 300 s arms at most about a hundred timers
    (one per hundredth of the limit), not one per 0.1 s tick: each pending timer and
    its group of limits is memory the worker keeps until the limit's end."""
    loop = asyncio.new_event_loop()
    now = [loop.time()]
    armed: list[float] = []
    call_at = loop.call_at
    loop.time = lambda: now[0]  # type: ignore[method-assign]

    def counting_call_at(when: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
        armed.append(when)
        return call_at(when, callback, *args)

    loop.call_at = counting_call_at  # type: ignore[method-assign]

    async def requests(deadlines: Deadlines, seconds: float) -> None:
        for _ in range(6000):
            with deadlines.within(seconds):
                now[0] += 0.05

    try:
        loop.run_until_complete(requests(Deadlines(), 300))
        assert len(armed) <= 102
        armed.clear()
        loop.run_until_complete(requests(Deadlines(), 0.5))
        assert len(armed) >= 2900  # short limits keep their 0.1 s precision
    finally:
        loop.close()


def test_nested_deadlines_each_claim_only_their_own_expiry() -> None:
    async def nested(outer: float, inner: float) -> str:
        deadlines = Deadlines()
        try:
            with deadlines.within(outer):
                try:
                    with deadlines.within(inner):
                        await asyncio.sleep(5)
                except DeadlinePassed:
                    return "inner"
        except DeadlinePassed:
            return "outer"
        return "neither"

    assert asyncio.run(nested(outer=10, inner=0.05)) == "inner"
    assert asyncio.run(nested(outer=0.05, inner=10)) == "outer"
