"""POST /admin/reload and GET /admin/config; listener settings; nothing leaks over reloads."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from engine import create_app
from engine.config import read_sources
from engine.runtime import Runtime
from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.harness import gateway
from tests.reload_helpers import (
    ADMIN_ENV,
    ADMIN_KEY,
    SPARE,
    Writer,
    admin_config,
    admin_headers,
    config_files,
    dump,
    providers,
    request,
    serving,
    wait_for,
)


@pytest.fixture(autouse=True)
def admin_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ADMIN_ENV, ADMIN_KEY)


def test_admin_endpoints_are_absent_without_an_admin_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ADMIN_ENV)
    Writer().setup(tmp_path / "cfg", config_files())
    with gateway(tmp_path / "cfg") as base:
        for method, path in (("GET", "/admin/config"), ("POST", "/admin/reload")):
            status, body = request(method, base + path, headers=admin_headers())
            assert status == 404
            assert body["error"]["type"] == "invalid_request_error"


def test_admin_key_is_required(tmp_path: Path) -> None:
    Writer().setup(tmp_path / "cfg", config_files())
    with gateway(tmp_path / "cfg") as base:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-Admin-Key": "wrong"}):
            status, body = request("POST", base + "/admin/reload", headers=headers)
            assert status == 401
            assert body["error"]["type"] == "authentication_error"
        assert request("GET", base + "/admin/config", headers={"X-Admin-Key": ADMIN_KEY})[0] == 200


def test_post_reload_applies_an_edit_the_watcher_was_told_to_ignore(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    writer = Writer()
    writer.setup(directory, config_files(spare=True))
    with gateway(directory, no_watch=True) as base:
        before = admin_config(base)
        writer.write(directory, "providers.yaml", dump(providers(spare=False)))
        assert serving(base, SPARE) is True  # nothing watches
        status, body = request("POST", base + "/admin/reload", headers=admin_headers())
        assert status == 200
        assert body["outcome"] == "applied"
        assert body["config_hash"] != before["config_hash"]
        assert body["sources"] == ["config/server.yaml", "providers.yaml", "routes.yaml"]
        assert body["loaded_at"] > before["loaded_at"]
        assert serving(base, SPARE) is False
        # A bad file: the call succeeds and says what was rejected and where.
        writer.write(directory, "providers.yaml", "providers: [\n")
        status, body = request("POST", base + "/admin/reload", headers=admin_headers())
        assert (status, body["outcome"]) == (200, "rejected")
        assert body["last_error"][0].startswith("providers.yaml:2:1: YAML syntax error")
        assert serving(base, SPARE) is False


def test_watching_is_switched_on_and_off_live(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    writer = Writer()
    writer.setup(directory, config_files(spare=True, watch={"enabled": False}))
    with gateway(directory) as base:
        writer.write(directory, "providers.yaml", dump(providers(spare=False)))
        time.sleep(0.5)  # three times what a running watcher takes (bench/reload.py: p95 ~165 ms)
        assert serving(base, SPARE) is True  # watching is off: the edit waits
        # An explicit reload applies the edit and switches watching on ...
        server_on = config_files(watch={"enabled": True})["config/server.yaml"]
        writer.write(directory, "config/server.yaml", server_on)
        assert request("POST", base + "/admin/reload", headers=admin_headers())[0] == 200
        assert serving(base, SPARE) is False
        # ... after which edits apply by themselves again.
        writer.write(directory, "providers.yaml", dump(providers(spare=True)))
        wait_for(lambda: serving(base, SPARE) is True, "the watcher follows again")


def test_listener_changes_are_reported_as_needing_a_restart(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    writer = Writer()
    writer.setup(directory, config_files(port=8000))
    with gateway(directory) as base:
        writer.write(
            directory,
            "config/server.yaml",
            config_files(port=8001, workers=3)["config/server.yaml"],
        )
        wait_for(lambda: admin_config(base)["restart_needed"] == ["port", "workers"], "reported")
        # Everything else in the same edit applied live; going back needs no restart.
        writer.write(directory, "config/server.yaml", config_files(port=8000)["config/server.yaml"])
        wait_for(lambda: admin_config(base)["restart_needed"] == [], "cleared")


def test_log_level_applies_live(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    writer = Writer()
    writer.setup(directory, config_files(log_level="info"))
    logger = logging.getLogger("patchbay")
    try:
        with gateway(directory) as base:
            assert logger.level == logging.INFO
            writer.write(
                directory,
                "config/server.yaml",
                config_files(log_level="warning")["config/server.yaml"],
            )
            wait_for(lambda: logger.level == logging.WARNING, "log level applied")
            assert admin_config(base)["restart_needed"] == []
    finally:
        logger.setLevel(logging.INFO)


# --- leaks ---------------------------------------------------------------------------

RELOADS = 200


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _settle(runtime: Runtime) -> None:
    """Let the watcher handle what the last writes caused before counting anything."""
    for _ in range(3):
        await runtime.reloader.reload()
        await asyncio.sleep(0.1)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_many_reloads_leak_no_descriptors_or_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_UPSTREAM_KEY", API_KEY)
    directory = tmp_path / "cfg"
    writer = Writer()
    async with FakeOpenAI(("gpt-test",)) as fake:

        def providers_file(n: int) -> str:
            # Each edit rebuilds every provider, the upstream one included.
            data = providers(spare=n % 2 == 0)
            data["providers"]["up"] = {
                "kind": "openai",
                "base_url": fake.url,
                "api_key": "${FAKE_UPSTREAM_KEY}",
                "models": ["gpt-test"],
            }
            return dump(data)

        writer.setup(directory, {**config_files(), "providers.yaml": providers_file(0)})
        app = create_app(directory)
        runtime: Runtime = app.config["PATCHBAY_RUNTIME"]
        async with app.test_app() as test_app:
            client = test_app.test_client()

            async def cycle(n: int) -> None:
                # Every 20th edit flips the watch mode: watchers are torn down and re-armed.
                if n % 20 == 0:
                    server = config_files(watch={"polling": n % 40 == 0})["config/server.yaml"]
                    writer.write(directory, "config/server.yaml", server)
                writer.write(directory, "providers.yaml", providers_file(n))
                await runtime.reloader.reload()  # unless the watcher got there first
                assert runtime.snapshot.hash == read_sources(directory).hash
                model = "up/gpt-test" if n % 2 else "echo/echo-1"
                body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
                assert (await client.post("/v1/chat/completions", json=body)).status_code == 200

            await _count_leaks(runtime, cycle)


async def _count_leaks(runtime: Runtime, cycle: Callable[[int], Awaitable[None]]) -> None:
    """Run `cycle` RELOADS times after a warm-up; descriptors and tasks must stay flat."""
    for n in range(10):  # warm up: pools, caches and lazily started threads
        await cycle(n)
    await _settle(runtime)
    fds, tasks = _open_fds(), len(asyncio.all_tasks())
    for n in range(10, 10 + RELOADS):
        await cycle(n)
    await _settle(runtime)
    assert runtime.reloader.status.reloads["applied"] >= RELOADS
    assert _open_fds() <= fds + 2, (fds, _open_fds())
    assert len(asyncio.all_tasks()) <= tasks, (tasks, asyncio.all_tasks())
