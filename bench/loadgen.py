"""Drive load with wrk and read its report: requests/s, p50/p99, and every error."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rig import pinned

LUA_SCRIPT = Path(__file__).with_name("chat.lua")
TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
PERCENTILE = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
TOTAL = re.compile(r"^\s+(\d+) requests in ", re.MULTILINE)
NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


class LoadError(RuntimeError):
    """wrk failed to run or printed a report that cannot be read."""


@dataclass(frozen=True)
class Scenario:
    """One load shape: stream or not, how many concurrent connections, and the model
    asked for when not the benchmark's own."""

    name: str
    stream: bool
    connections: int
    model: str | None = None


@dataclass(frozen=True)
class Sample:
    """What one wrk run measured."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    cpu_us_per_request: float = 0.0  # the server's own CPU time, filled in by the caller

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())

    def describe_errors(self) -> str:
        parts = [f"{self.non_2xx} non-2xx"] if self.non_2xx else []
        parts += [f"{count} socket {kind}" for kind, count in self.socket_errors.items() if count]
        return ", ".join(parts)


@dataclass(frozen=True)
class Figure:
    """The median of several samples of one scenario against one target."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float

    @classmethod
    def median_of(cls, samples: Sequence[Sample]) -> Figure:
        return cls(
            statistics.median(s.requests_per_s for s in samples),
            statistics.median(s.p50_ms for s in samples),
            statistics.median(s.p99_ms for s in samples),
            statistics.median(s.cpu_us_per_request for s in samples),
        )


def parse_report(text: str) -> Sample:
    """Read requests/s, p50, p99, non-2xx and socket errors from wrk's --latency output."""
    rate, total = RATE.search(text), TOTAL.search(text)
    percentiles = {p: float(v) * TIME_UNITS_MS[u] for p, v, u in PERCENTILE.findall(text)}
    if rate is None or total is None or set(percentiles) != {"50", "99"}:
        raise LoadError(f"unreadable wrk report:\n{text}")
    non_2xx = NON_2XX.search(text)
    socket = SOCKET.search(text)
    kinds = ("connect", "read", "write", "timeout")
    return Sample(
        requests_per_s=float(rate.group(1)),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=dict(zip(kinds, map(int, socket.groups()), strict=True)) if socket else {},
    )


@dataclass(frozen=True)
class LoadGenerator:
    """wrk, pinned to the load core, sending the chat request of chat.lua."""

    model: str
    core: int | None
    api_key: str = ""
    request_timeout_s: int = 10

    def run(self, url: str, scenario: Scenario, duration: float, wire: str = "chat") -> Sample:
        """Run one wrk pass of `duration` seconds against `url`; bounded in time. `wire`
        "messages" sends the ask as an Anthropic Messages request."""
        seconds = max(1, round(duration))
        command = [
            "wrk",
            "-t1",
            f"-c{scenario.connections}",
            f"-d{seconds}s",
            f"--timeout={self.request_timeout_s}s",
            "--latency",
            "-s",
            str(LUA_SCRIPT),
            url,
        ]
        env = {
            **os.environ,
            "BENCH_STREAM": "1" if scenario.stream else "0",
            "BENCH_MODEL": scenario.model or self.model,
            "BENCH_API_KEY": self.api_key,
            "BENCH_FORMAT": wire,
        }
        try:
            done = subprocess.run(
                pinned(command, self.core),
                capture_output=True,
                text=True,
                env=env,
                timeout=seconds + self.request_timeout_s + 10,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise LoadError(f"wrk did not finish against {url}") from None
        if done.returncode != 0:
            raise LoadError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
        return parse_report(done.stdout)
