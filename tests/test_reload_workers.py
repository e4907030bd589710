"""`patchbay serve --workers 2`: both workers apply an edit; SIGHUP reloads, never restarts.

Which worker answered is told apart by its snapshot's `loaded_at` (each worker
compiles its own snapshot at its own moment); worker PIDs come from /proc.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import free_port
from tests.reload_helpers import (
    ADMIN_ENV,
    ADMIN_KEY,
    SPARE,
    Writer,
    admin_config,
    config_files,
    dump,
    providers,
    request,
    serving,
    wait_for,
)

START_DEADLINE = 30.0  # spawning two workers imports everything twice


def _children(parent: int) -> set[int]:
    """PIDs of `parent`'s worker processes (not multiprocessing's resource tracker)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue  # exited meanwhile
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in cmdline:
            found.add(int(entry))
    return found


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    """A two-worker Patchbay on a loopback port: (base URL, config dir, the process)."""
    directory = tmp_path / "cfg"
    Writer().setup(directory, config_files(spare=True))
    port = free_port()
    command = [sys.executable, "-m", "engine", "serve", "--config-dir", str(directory)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    env = {**os.environ, ADMIN_ENV: ADMIN_KEY}
    with open(tmp_path / "serve.log", "wb") as log:
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(base), "two workers serving", deadline=START_DEADLINE)
        yield base, directory, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        print((tmp_path / "serve.log").read_text())  # shown when the test failed


def _ready(base: str) -> bool:
    try:
        return request("GET", base + "/ready")[0] == 200
    except OSError:
        return False


def _workers_seen(base: str, want: int = 2, **expected: Any) -> dict[float, dict[str, Any]]:
    """/admin/config from fresh connections until `want` workers answered, keyed by worker.

    Every answer must match `expected` (e.g. config_hash=...): a worker that lags fails.
    """
    seen: dict[float, dict[str, Any]] = {}

    def collect() -> bool:
        status = admin_config(base)
        for key, value in expected.items():
            if status[key] != value:
                return False
        seen[status["loaded_at"]] = status
        return len(seen) >= want

    wait_for(collect, f"{want} workers answering with {expected}", deadline=10)
    return seen


def test_both_workers_apply_an_edit_and_reload_on_sighup(
    served: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    base, directory, process = served
    workers = _workers_seen(base)
    pids = _children(process.pid)
    assert len(pids) == 2

    Writer().write(directory, "providers.yaml", dump(providers(spare=False)))
    wait_for(lambda: serving(base, SPARE) is False, "the edit applied")
    fresh = admin_config(base)["config_hash"]
    after_edit = _workers_seen(base, config_hash=fresh)
    assert set(after_edit).isdisjoint(workers)  # each worker compiled the edit itself
    for _ in range(20):  # fresh connections land on either worker: none serves the old
        assert serving(base, SPARE) is False

    process.send_signal(signal.SIGHUP)

    def reloaded() -> dict[float, dict[str, Any]] | None:
        seen = _workers_seen(base, config_hash=fresh)
        return seen if set(seen).isdisjoint(after_edit) else None

    after_hup = wait_for(reloaded, "both workers re-read on SIGHUP")
    assert all(s["reloads"]["applied"] >= 2 for s in after_hup.values())
    assert _children(process.pid) == pids  # the same workers: reloaded, not restarted
    assert process.poll() is None
