"""Shared fixtures: a fake OpenAI-compatible upstream, Patchbay serving it on loopback,
and a real redis-server."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from engine.config.settings import SERVERS
from engine.upstream.client import Upstream
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import free_port, gateway, write_config

# The fake's scripted chat models (see tests/fakes/openai_server.py), all served by `up`.
SCRIPTED = (
    "gpt-test",
    "fail-500",
    "reject-400",
    "limit-429",
    "slow",
    "stall",
    "big",
    "midstream-error",
    "hold",
    "late-end",
)


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest) -> str:
    """Each ASGI server `patchbay serve --server` runs on: a test taking it runs on each."""
    return str(request.param)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp runs on asyncio only


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    """A started upstream client, for tests that drive a provider kind directly."""
    client = Upstream()
    await client.start()
    yield client
    await client.close()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(SCRIPTED).in_thread() as fake:
        yield fake


def upstream_providers(fake_url: str, **extra: Any) -> dict[str, Any]:
    """providers.yaml with echo and an openai-kind provider `up` at the fake."""
    return {
        "defaults": {"provider": "echo", "timeout": 1, "retries": 0},
        "providers": {
            "echo": {"kind": "echo", "models": ["echo-1"]},
            "up": {
                "kind": "openai",
                "base_url": fake_url,
                "api_key": "${FAKE_UPSTREAM_KEY}",
                "models": [
                    *SCRIPTED,
                    {"id": "embed-test", "type": "embedding"},
                    {"id": "img-test", "type": "image"},
                    {"id": "url-only", "type": "image"},
                ],
            },
        },
        **extra,
    }


@pytest.fixture
def gateway_url(
    tmp_path: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", API_KEY)
    write_config(tmp_path / "cfg", upstream_providers(fake_openai.url))
    with gateway(tmp_path / "cfg") as url:
        yield url


@pytest.fixture
def client(gateway_url: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=gateway_url + "/v1", api_key="client-key", max_retries=0, timeout=20
    )


@pytest.fixture
def redis_url(redis_server: tuple[str, subprocess.Popen[bytes]]) -> str:
    return redis_server[0]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own on loopback: its URL and its process."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is needed: apt-get install -y redis-server")
    port = free_port()
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    args += ["--appendonly", "no", "--dir", str(tmp_path)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_redis(port, process)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.send_signal(signal.SIGCONT)  # a test may have frozen it
        process.terminate()  # this PID only: the server this fixture started
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _wait_for_redis(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(400):
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        threading.Event().wait(0.025)
    raise TimeoutError("redis-server did not answer PING")
