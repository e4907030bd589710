"""The benchmark's processes: start pinned, wait until serving, measure, stop by PID.

Every process is started in its own session, so stopping it by its PID also stops
any worker it forked (its process group has the same id), and nothing else.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SERVER_CORE = 0
LOAD_CORE = 1


class RigError(RuntimeError):
    """A process of the rig did not start or did not answer as it should."""


def pinning_available() -> bool:
    """True when `taskset` exists and there are at least two cores to separate."""
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pinned(command: Sequence[str], core: int | None) -> list[str]:
    """`command` prefixed with `taskset -c core`, or unchanged when `core` is None."""
    return list(command) if core is None else ["taskset", "-c", str(core), *command]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """A started server process, its port, and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    spawned: float

    @property
    def pid(self) -> int:
        return self.process.pid

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Rig:
    """Owns every process the benchmark starts; `stop_all()` ends them, newest first."""

    workdir: Path
    servers: list[Server] = field(default_factory=list)

    def start(
        self,
        name: str,
        command: Sequence[str],
        port: int,
        *,
        core: int | None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Server:
        log = self.workdir / f"{name}.log"
        spawned = time.monotonic()
        with log.open("wb") as sink:
            process = subprocess.Popen(
                pinned(command, core),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        server = Server(name, process, port, log, spawned)
        self.servers.append(server)
        return server

    def stop(self, server: Server, grace: float = 5.0) -> None:
        """SIGTERM the server's process group, SIGKILL it after `grace` seconds."""
        if server in self.servers:
            self.servers.remove(server)
        if server.process.poll() is not None:
            return
        _signal_group(server.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(server.pid, signal.SIGKILL)
            server.process.wait(timeout=grace)
        # A worker that outlived its parent is still in the group.
        _signal_group(server.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for server in reversed(list(self.servers)):
            self.stop(server)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def wait_until_serving(
    server: Server,
    method: str,
    path: str,
    body: bytes | None = None,
    timeout: float = 120.0,  # under valgrind on a busy machine, start-up takes its time
) -> float:
    """Poll until `method path` answers 200; return seconds since the server was spawned.

    Raises RigError, with the server's last log lines, if it exits or times out.
    """
    started = time.monotonic()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    while time.monotonic() - started < timeout:
        if server.process.poll() is not None:
            raise RigError(f"{server.name} exited early:\n{server.log_tail()}")
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return time.monotonic() - server.spawned
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.005)
    raise RigError(f"{server.name} did not serve {path} within {timeout:g} s:\n{server.log_tail()}")


def descendants(pid: int) -> list[int]:
    """PIDs of every live descendant of `pid`, from /proc."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found.append(child)
                pending.append(child)
    return found


def rss_kib(pid: int) -> int:
    """VmRSS of one process in KiB (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def heaviest_process(pid: int) -> int:
    """The process among `pid` and its descendants with the largest RSS: the worker."""
    return max([pid, *descendants(pid)], key=rss_kib)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of `pid` and its descendants, from /proc/PID/stat."""
    ticks = 0
    for process in (pid, *descendants(pid)):
        try:
            stat = Path(f"/proc/{process}/stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name; utime and stime are 14th and 15th.
        fields = stat.rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")
