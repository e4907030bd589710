"""`patchbay serve` in a subprocess on a loopback port, for the tests every server must pass.

`served()` starts it with the chosen server, waits until /health answers, and on the
way out stops it with SIGTERM (by its PID), killing it only if it does not stop.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.harness import free_port

START_DEADLINE = 30.0  # several workers each import everything; the machine may be busy


@dataclass(frozen=True)
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def workers(self) -> set[int]:
        """PIDs of the supervisor's worker processes (multiprocessing's spawned children,
        not its resource tracker)."""
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
            if ppid == self.process.pid and b"spawn_main" in cmdline:
                found.add(int(entry))
        return found


def health(url: str, timeout: float = 5) -> int:
    """The status of GET /health on a fresh connection (OSError when none is made)."""
    try:
        with urllib.request.urlopen(url + "/health", timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


@contextmanager
def served(
    config_dir: Path,
    server: str,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    args: Sequence[str] = (),
    log_path: Path | None = None,
    prefix: str = "",
) -> Iterator[Served]:
    """`prefix`: the base_url the server answers under (/health is waited for there)."""
    port = free_port()
    command = [sys.executable, "-m", "engine", "serve", "--config-dir", str(config_dir)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--server", server]
    command += ["--workers", str(workers), *args]
    log_path = log_path or config_dir.parent / f"serve-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            cwd=config_dir.parent,
            stdout=log,
            stderr=log,
        )
    running = Served(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_up(running, prefix)
        yield running
    finally:
        stop(running.process)
        print(running.log())  # shown when the test failed


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then the exit status; SIGKILL only if it did not stop within 40 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
        raise


def _wait_up(running: Served, prefix: str) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise RuntimeError(f"patchbay serve exited:\n{running.log()}")
        try:
            if health(running.url + prefix, timeout=2) == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"patchbay serve did not answer /health:\n{running.log()}")
