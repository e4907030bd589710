"""Shared fixtures: a fake OpenAI-compatible upstream, Patchbay serving it on loopback,
and a real redis-server."""

from __future__ import annotations

import logging
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from engine.config.settings import SERVERS
from engine.observe.logs import LIBRARIES, ROOT, ConsoleHandler
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


# Module-level test constants holding a secret: upstream keys, client keys, admin keys.
SECRET_NAME = re.compile(r"(^|_)(KEY|TOKEN|SECRET|ALICE|BOB|ADMIN)(_|$)")


class ConsoleLines(logging.Handler):
    """Every line Patchbay's console handler writes, as it writes it (secrets masked)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        console = next(
            (h for h in logging.getLogger(ROOT).handlers if isinstance(h, ConsoleHandler)), None
        )
        if console is not None:
            self.lines.append(console.format(record))


@pytest.fixture(scope="session", autouse=True)
def console_lines() -> Iterator[ConsoleLines]:
    """The whole suite's log lines (of gateways served in this process); at the end, no
    secret of any test config may be in any of them."""
    recorder = ConsoleLines()
    for name in (ROOT, *LIBRARIES):
        logging.getLogger(name).addHandler(recorder)
    yield recorder
    for name in (ROOT, *LIBRARIES):
        logging.getLogger(name).removeHandler(recorder)
    secrets = {
        value
        for module_name, module in list(sys.modules.items())
        if module_name.startswith("tests.")
        for name, value in vars(module).items()
        if SECRET_NAME.search(name) and isinstance(value, str) and len(value) >= 8
    }
    assert secrets  # the fakes' upstream keys at least
    leaked = [(s, line) for line in recorder.lines for s in secrets if s in line]
    assert not leaked, f"secrets in log lines: {leaked[:5]}"


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
