"""Patchbay on each installed ASGI server, and one worker against two.

`--servers`: (a) the upstream direct, (c) the passthrough, (d) the stack floor and
Patchbay on every installed server, all pinned to the server core and measured in the
same alternating rounds; the table gives each server's req/s, p50, paired ratios
against (c) and (d), CPU per request, and below it RSS and added latency at 1 client.

`--scaling`: Patchbay on each installed server with one worker and with two, unpinned
(the two workers need both cores, which wrk and the upstream share with them); the
table gives the paired ratio of two workers to one.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from gateway import Target, start_direct, start_passthrough, start_patchbay, start_upstream
from loadgen import Scenario
from report import DIRECT, FLOOR, PASSTHROUGH, Row, added_latency
from rig import Rig, descendants, rss_kib

SERVERS = ("hypercorn", "uvicorn", "granian")
SCALING = (
    Scenario("chat c=64", stream=False, connections=64),
    Scenario("stream c=64", stream=True, connections=64),
)


def installed_servers() -> list[str]:
    return [name for name in SERVERS if importlib.util.find_spec(name) is not None]


def start_server_targets(
    rig: Rig, repo: Path, core: int | None, load_core: int | None, request_logging: bool
) -> dict[str, Target]:
    """(a), (c), (d) and Patchbay on each installed server, all on `core`."""
    upstream = start_upstream(rig, core=load_core)
    targets = {DIRECT: start_direct(rig, core=core)}
    for server in installed_servers():
        targets[server], _ = start_patchbay(
            rig, repo, upstream, core=core, request_logging=request_logging,
            server=server, name=f"patchbay-{server}",
        )  # fmt: skip
    targets[PASSTHROUGH], _ = start_passthrough(rig, upstream, core=core)
    targets[FLOOR], _ = start_passthrough(rig, upstream, core=core, script="bare_relay.py")
    return targets


def start_scaling_targets(rig: Rig, repo: Path, request_logging: bool) -> dict[str, Target]:
    """Patchbay on each installed server with one worker and with two, unpinned."""
    upstream = start_upstream(rig, core=None)
    targets: dict[str, Target] = {}
    for server in installed_servers():
        for workers in (1, 2):
            key = f"{server} x{workers}"
            targets[key], _ = start_patchbay(
                rig, repo, upstream, core=None, request_logging=request_logging,
                server=server, workers=workers, name=f"patchbay-{server}-{workers}",
            )  # fmt: skip
    return targets


def rss_mib(pid: int) -> tuple[float, float]:
    sizes = [rss_kib(p) for p in (pid, *descendants(pid))]
    return max(sizes) / 1024, sum(sizes) / 1024


def render_servers_table(rows: Sequence[Row], servers: Sequence[str]) -> str:
    """Per scenario and server: req/s, p50, /c and /d paired on req/s, CPU us/request."""
    width = max(len("scenario"), *(len(row.scenario) for row in rows))
    lines = [
        f"{'scenario':<{width}} | {'server':<9} | {'req/s':>8} | {'p50':>8} | "
        f"{'x (c)':>6} | {'x (d)':>6} | {'CPU us/req':>10}"
    ]
    lines.append("-" * len(lines[0]))
    for row in rows:
        for key in (*servers, PASSTHROUGH, FLOOR):
            figure = row.figures.get(key)
            if figure is None:
                continue
            label = {PASSTHROUGH: "(c) pass", FLOOR: "(d) floor"}.get(key, key)
            lines.append(
                f"{row.scenario:<{width}} | {label:<9} | {figure.requests_per_s:>8,.0f} | "
                f"{figure.p50_ms:>6.2f}ms | {row.ratio(key, PASSTHROUGH):>6} | "
                f"{row.ratio(key, FLOOR):>6} | {figure.cpu_us_per_request:>10,.0f}"
            )
    return "\n".join(lines)


def render_server_notes(
    targets: dict[str, Target], latency_row: Row, servers: Sequence[str]
) -> str:
    lines = []
    for server in servers:
        worker, total = rss_mib(targets[server].server.pid)
        lines.append(
            f"{server:<9} RSS {worker:.1f} MiB ({total:.1f} MiB all processes); added p50 at 1 client "
            f"{added_latency(latency_row, server)}"
        )
    lines.append(f"(c) pass  added p50 at 1 client {added_latency(latency_row, PASSTHROUGH)}")
    lines.append(f"(d) floor added p50 at 1 client {added_latency(latency_row, FLOOR)}")
    return "\n".join(lines)


def render_scaling_table(rows: Sequence[Row], servers: Sequence[str]) -> str:
    width = max(len("scenario"), *(len(row.scenario) for row in rows))
    lines = [
        f"{'scenario':<{width}} | {'server':<9} | {'1 worker':>9} | {'2 workers':>9} | {'x2/x1':>6}"
    ]
    lines.append("-" * len(lines[0]))
    for row in rows:
        for server in servers:
            one, two = row.figures.get(f"{server} x1"), row.figures.get(f"{server} x2")
            if one is None or two is None:
                continue
            lines.append(
                f"{row.scenario:<{width}} | {server:<9} | {one.requests_per_s:>9,.0f} | "
                f"{two.requests_per_s:>9,.0f} | {row.ratio(f'{server} x2', f'{server} x1'):>6}"
            )
    return "\n".join(lines)
