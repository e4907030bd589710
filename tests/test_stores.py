"""The worker's one store of shared state: memory, or Redis, following redis_url live."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess

import pytest

from engine.stores.base import Cooldown, CountersUnavailable
from engine.stores.memory import MemoryCooldowns, MemoryCounters
from engine.stores.shared import BREAKER_SECONDS, SharedState


def redis_clients(url: str) -> list[str]:
    """`CLIENT LIST` of the Redis at `url`, one line per connection, ours excluded."""
    host, port = url.removeprefix("redis://").split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"CLIENT LIST\r\n")
        data = b""
        while not data.endswith(b"\r\n") or data.count(b"\r\n") < 2:
            data += sock.recv(65536)
    lines = data.split(b"\r\n", 1)[1].decode().splitlines()
    return [line for line in lines if line and "cmd=client|list" not in line]


def test_limits_and_cooldowns_share_one_redis_client_and_close_it_when_the_url_changes(
    redis_url: str,
) -> None:
    other_db = redis_url.rsplit("/", 1)[0] + "/1"

    async def scenario() -> None:
        state = SharedState()
        try:
            counters = await state.counters(redis_url)
            cooldowns = await state.cooldowns(redis_url)
            assert counters is cooldowns  # one client for both
            await counters.add({"k": 1}, 60)
            await cooldowns.failed("p/m", Cooldown(failures=1))
            assert await cooldowns.cooling("p/m") > 0
            assert any(" db=0 " in line for line in redis_clients(redis_url))
            moved = await state.cooldowns(other_db)  # an edit of redis_url
            await moved.cooling("p/m")
            lines = redis_clients(redis_url)
            assert not any(" db=0 " in line for line in lines), lines
            assert any(" db=1 " in line for line in lines)
        finally:
            await state.close()
        assert redis_clients(redis_url) == []

    asyncio.run(scenario())


def test_without_redis_url_the_state_is_this_workers_memory() -> None:
    async def scenario() -> None:
        state = SharedState()
        counters = await state.counters(None)
        assert await counters.add({"a": 2}, 60) == [2]
        assert await counters.add({"a": 3}, 60) == [5]
        cooldowns = await state.cooldowns(None)
        await cooldowns.failed("x", Cooldown(failures=2, window=60, duration=30))
        assert await cooldowns.cooling("x") == 0
        await cooldowns.failed("x", Cooldown(failures=2, window=60, duration=30))
        assert 29 < await cooldowns.cooling("x") <= 30

    asyncio.run(scenario())


def test_a_frozen_redis_costs_one_timeout_then_memory_serves_until_the_breaker_closes(
    redis_server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = redis_server
    clock = FakeClock()

    async def scenario() -> None:
        state = SharedState(clock)
        try:
            shared = await state.counters(url)
            await shared.add({"k": 1}, 60)
            assert state.health(url)["ok"] is True
            process.send_signal(signal.SIGSTOP)  # frozen: connections open, no answers
            with pytest.raises(CountersUnavailable):
                await shared.add({"k": 1}, 60)
            # The breaker is open: the request's cooldown check and the next requests
            # are served from memory instead of waiting for Redis again.
            assert isinstance(await state.cooldowns(url), MemoryCooldowns)
            assert isinstance(await state.counters(url), MemoryCounters)
            health = state.health(url)
            assert health["ok"] is False and health["failing_since"] is not None
            process.send_signal(signal.SIGCONT)
            clock.now += BREAKER_SECONDS
            again = await state.counters(url)
            assert again is shared
            # Redis kept its count (and ran the command queued while it was frozen).
            assert (await again.add({"k": 1}, 60))[0] >= 2
            assert state.health(url)["ok"] is True
        finally:
            process.send_signal(signal.SIGCONT)
            await state.close()

    asyncio.run(scenario())


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
