"""`patchbay serve --workers 2`: both workers apply an edit; SIGHUP reloads, never restarts.

Which worker answered is told by the `pid` in /admin/config, and that it compiled
a new snapshot by its `loaded_at`; the server's worker PIDs come from /proc.
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
def served(tmp_path: Path, server: str) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    """A two-worker Patchbay on a loopback port, on each server: (base URL, config dir,
    the process)."""
    directory = tmp_path / "cfg"
    Writer().setup(directory, config_files(spare=True))
    port = free_port()
    command = [sys.executable, "-m", "engine", "serve", "--config-dir", str(directory)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--server", server]
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


def _by_worker(base: str) -> dict[int, dict[str, Any]]:
    """/admin/config from fresh connections until both workers answered, keyed by PID
    (a worker that answers twice is kept at its latest answer)."""
    seen: dict[int, dict[str, Any]] = {}

    def collect() -> bool:
        status = admin_config(base)
        seen[status["pid"]] = status
        return len(seen) >= 2

    wait_for(collect, "both workers answering", deadline=10)
    return seen


def _recompiled(base: str, earlier: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]] | None:
    """Each worker's status once every one of them has compiled a snapshot since
    `earlier` and all serve the same config hash; None until then."""
    now = _by_worker(base)
    fresh = all(now[pid]["loaded_at"] != earlier.get(pid, {}).get("loaded_at") for pid in now)
    hashes = {status["config_hash"] for status in now.values()}
    return now if fresh and len(hashes) == 1 else None


def test_both_workers_apply_an_edit_and_reload_on_sighup(
    served: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    base, directory, process = served
    pids = _children(process.pid)
    assert len(pids) == 2
    workers = _by_worker(base)
    assert set(workers) == pids
    (old_hash,) = {status["config_hash"] for status in workers.values()}

    Writer().write(directory, "providers.yaml", dump(providers(spare=False)))
    # Each worker watches the files and compiles the edit itself, at its own moment.
    after_edit = wait_for(lambda: _recompiled(base, workers), "both workers applied the edit")
    (fresh,) = {status["config_hash"] for status in after_edit.values()}
    assert fresh != old_hash
    for _ in range(20):  # fresh connections land on either worker: none serves the old
        assert serving(base, SPARE) is False

    process.send_signal(signal.SIGHUP)

    after_hup = wait_for(lambda: _recompiled(base, after_edit), "both workers re-read on SIGHUP")
    assert {status["config_hash"] for status in after_hup.values()} == {fresh}
    assert all(s["reloads"]["applied"] >= 2 for s in after_hup.values())
    assert _children(process.pid) == pids == set(after_hup)  # reloaded, not restarted
    assert process.poll() is None
