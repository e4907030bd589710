"""Patchbay's benchmark, one command: python bench/run.py [--quick] [--profile SECONDS]

Starts a fast fake upstream, Patchbay (one worker, the shipped config plus a `bench`
provider) and the bare Quart passthrough, drives each with wrk in alternating runs,
and prints one table (req/s, p50, p99 per target, ratios), Patchbay's RSS, start-up
time and added latency at one client. Every process it starts is stopped by PID at
the end, also on Ctrl-C or error. Exit status 1 when any request failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType

from gateway import (
    CACHED_ALIAS,
    Target,
    messages_target,
    start_direct,
    start_passthrough,
    start_patchbay,
    start_upstream,
)
from hotspots import profile_under_load
from loadgen import LoadError, LoadGenerator, Sample, Scenario
from report import (
    DIRECT,
    FLOOR,
    MESSAGES,
    PASSTHROUGH,
    PATCHBAY,
    Footnotes,
    Row,
    render_cpu_table,
    render_floor_table,
    render_footnotes,
    render_messages_table,
    render_table,
)
from rig import (
    LOAD_CORE,
    SERVER_CORE,
    Rig,
    RigError,
    cpu_seconds,
    descendants,
    pinning_available,
    rss_kib,
)
from servers import (
    SCALING,
    installed_servers,
    render_scaling_table,
    render_server_notes,
    render_servers_table,
    start_scaling_targets,
    start_server_targets,
)
from verify import (
    WrongAnswer,
    check_cache_hit,
    check_completion,
    check_messages_stream,
    check_stream,
)

REPO = Path(__file__).resolve().parent.parent
MODEL = "bench/bench-model"
CACHED = CACHED_ALIAS  # Patchbay: the same model behind the response cache
SCENARIOS = (
    Scenario("chat c=32", stream=False, connections=32),
    Scenario("chat c=128", stream=False, connections=128),
    Scenario("stream c=32", stream=True, connections=32),
    # Every request after the first is a hit for Patchbay; (a) and (c) still proxy it.
    Scenario("cache hit c=32", stream=False, connections=32, model=CACHED),
)
LATENCY = Scenario("chat c=1", stream=False, connections=1)
MESSAGES_STREAM = Scenario("stream c=32", stream=True, connections=32)
NOISY = 1.25


@dataclass(frozen=True)
class Plan:
    """How long and how often each figure is measured."""

    duration: float
    warmup: float
    repeats: int
    startup_runs: int
    profile: float


@dataclass
class Bench:
    """The running targets and the load generator; collects every error it sees."""

    targets: dict[str, Target]
    load: LoadGenerator
    errors: list[str] = field(default_factory=list)
    noise: list[str] = field(default_factory=list)

    def sample(self, key: str, scenario: Scenario, duration: float) -> Sample:
        """One wrk run against target `key`, with the target's CPU time per request."""
        target = self.targets[key]
        cpu_before = cpu_seconds(target.server.pid)
        sample = self.load.run(target.url, scenario, duration, target.wire)
        cpu = cpu_seconds(target.server.pid) - cpu_before
        sample = replace(sample, cpu_us_per_request=1e6 * cpu / max(1, sample.requests))
        if sample.errors:
            message = f"{key} {scenario.name}: {sample.describe_errors()}"
            print(f"!!! REQUEST ERRORS: {message}", file=sys.stderr)
            self.errors.append(message)
        return sample

    def measure(self, scenario: Scenario, plan: Plan) -> Row:
        """Warm each target up, then alternate a, b, c runs `plan.repeats` times."""
        if plan.warmup > 0:
            for key in self.targets:
                self.sample(key, scenario, plan.warmup)
        samples: dict[str, list[Sample]] = {key: [] for key in self.targets}
        for repeat in range(plan.repeats):
            for key in self.targets:
                sample = self.sample(key, scenario, plan.duration)
                samples[key].append(sample)
                print(
                    f"  {scenario.name:<12} run {repeat + 1}/{plan.repeats} {key:<12}"
                    f"{sample.requests_per_s:>9,.0f} req/s  p50 {sample.p50_ms:.2f} ms"
                    f"  cpu {sample.cpu_us_per_request:,.0f} us/req",
                    file=sys.stderr,
                )
        self.note_noise(scenario, samples)
        return Row(scenario.name, samples)

    def note_noise(self, scenario: Scenario, samples: dict[str, list[Sample]]) -> None:
        """Remember figures whose runs disagree by more than NOISY: the rig was busy."""
        for key, runs in samples.items():
            rates = [run.requests_per_s for run in runs]
            if min(rates) > 0 and max(rates) / min(rates) > NOISY:
                self.noise.append(
                    f"{scenario.name} {key}: {min(rates):,.0f} to {max(rates):,.0f} req/s"
                )

    def verify(self) -> None:
        for key, target in self.targets.items():
            port, path, api_key = target.server.port, target.path, self.load.api_key
            try:
                if target.wire == "messages":
                    check_messages_stream(port, path, MODEL, api_key)
                    continue
                check_completion(port, path, MODEL, api_key)
                check_stream(port, path, MODEL, api_key)
                if key == PATCHBAY:
                    check_cache_hit(port, path, CACHED, api_key)
            except WrongAnswer as exc:
                raise RigError(f"{key} answers wrongly: {exc}") from None


def parse_args() -> tuple[argparse.Namespace, Plan]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s, one repeat")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up")
    parser.add_argument("--repeats", type=int, default=5, help="alternating runs per figure")
    parser.add_argument(
        "--profile",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="after the table, profile Patchbay with py-spy under load",
    )
    parser.add_argument(
        "--no-patchbay", action="store_true", help="measure only the upstream and the passthrough"
    )
    parser.add_argument(
        "--no-request-logging",
        action="store_true",
        help="run Patchbay with request_logging off (default: as shipped)",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also measure (d), the stack floor (bare_relay.py), and print b/d and c/d",
    )
    parser.add_argument("--api-key", default="", help="bearer key, if the shipped config needs one")
    parser.add_argument(
        "--servers",
        action="store_true",
        help="measure Patchbay on each installed server beside (a), (c) and (d)",
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="measure Patchbay on each installed server with one worker and with two",
    )
    parser.add_argument(
        "--only",
        choices=("chat", "stream", "cache"),
        help="measure only the chat, the stream or the cache-hit scenarios (and chat c=1)",
    )
    args = parser.parse_args()
    if args.quick:
        plan = Plan(duration=1, warmup=0, repeats=1, startup_runs=1, profile=args.profile)
    else:
        plan = Plan(args.duration, args.warmup, max(1, args.repeats), 3, args.profile)
    return args, plan


def start_targets(
    rig: Rig, args: argparse.Namespace, plan: Plan, pin: bool
) -> tuple[dict[str, Target], dict[str, float]]:
    """Start the upstreams, Patchbay and the passthrough; return them and start-up times."""
    server_core, load_core = (SERVER_CORE, LOAD_CORE) if pin else (None, None)
    upstream = start_upstream(rig, core=load_core)
    targets = {DIRECT: start_direct(rig, core=server_core)}
    startups: dict[str, float] = {}
    if not args.no_patchbay:
        times = []
        for attempt in range(plan.startup_runs):
            patchbay, seconds = start_patchbay(
                rig, REPO, upstream, core=server_core, request_logging=not args.no_request_logging
            )
            times.append(seconds)
            if attempt + 1 < plan.startup_runs:
                rig.stop(patchbay.server)
        targets[PATCHBAY] = patchbay
        startups[PATCHBAY] = statistics.median(times)
    targets[PASSTHROUGH], startups[PASSTHROUGH] = start_passthrough(rig, upstream, core=server_core)
    if args.floor:
        targets[FLOOR], _ = start_passthrough(
            rig, upstream, core=server_core, script="bare_relay.py"
        )
    return targets, startups


def rss_mib(pid: int) -> tuple[float, float]:
    """(largest single process, sum over the process and its descendants) in MiB."""
    sizes = [rss_kib(p) for p in (pid, *descendants(pid))]
    return max(sizes) / 1024, sum(sizes) / 1024


def compare_servers(rig: Rig, args: argparse.Namespace, plan: Plan) -> int:
    """--servers and --scaling (see servers.py)."""
    pin = pinning_available() and not args.scaling
    load_before = os.getloadavg()[0]
    logging = not args.no_request_logging
    servers = installed_servers()
    if args.scaling:
        targets = start_scaling_targets(rig, REPO, logging)
        scenarios: tuple[Scenario, ...] = SCALING
    else:
        core, load_core = (SERVER_CORE, LOAD_CORE) if pin else (None, None)
        targets = start_server_targets(rig, REPO, core, load_core, logging)
        scenarios = SCENARIOS
    bench = Bench(targets, LoadGenerator(MODEL, LOAD_CORE if pin else None, args.api_key))
    bench.verify()
    chosen = [s for s in scenarios if args.only is None or s.name.startswith(args.only)]
    rows = [bench.measure(scenario, plan) for scenario in chosen]
    print()
    print(f"machine load average (1 min) before the run: {load_before:.2f}")
    if args.scaling:
        print(render_scaling_table(rows, servers))
    else:
        latency_row = bench.measure(LATENCY, plan)
        print(render_servers_table([*rows, latency_row], servers))
        print()
        print(render_server_notes(targets, latency_row, servers))
    print(render_footnotes_errors(bench))
    return 1 if bench.errors else 0


def render_footnotes_errors(bench: Bench) -> str:
    lines = [f"  {spread}" for spread in bench.noise]
    if lines:
        lines.insert(0, "runs that varied by more than 25% (other load on the machine?):")
    if bench.errors:
        lines.append(f"!!! {len(bench.errors)} RUNS HAD REQUEST ERRORS !!!")
        lines.extend(f"!!!   {error}" for error in bench.errors)
    else:
        lines.append("errors: none (no non-2xx, no socket errors)")
    return "\n".join(lines)


def benchmark(rig: Rig, args: argparse.Namespace, plan: Plan) -> int:
    if args.servers or args.scaling:
        return compare_servers(rig, args, plan)
    pin = pinning_available()
    print(
        f"pinning: {'servers on core 0, wrk and upstream on core 1' if pin else 'off'}",
        file=sys.stderr,
    )
    load_before = os.getloadavg()[0]
    targets, startups = start_targets(rig, args, plan, pin)
    bench = Bench(targets, LoadGenerator(MODEL, LOAD_CORE if pin else None, args.api_key))
    bench.verify()
    chosen = [s for s in SCENARIOS if args.only is None or s.name.startswith(args.only)]
    rows = [bench.measure(scenario, plan) for scenario in chosen]
    latency_row = bench.measure(LATENCY, plan)
    patchbay = targets.get(PATCHBAY)
    messages_row = None
    if patchbay is not None and args.only in (None, "stream"):
        # /v1/messages and /v1/chat/completions on the same Patchbay, in the same rounds.
        pair = Bench({PATCHBAY: patchbay, MESSAGES: messages_target(patchbay)}, bench.load)
        pair.verify()
        messages_row = pair.measure(MESSAGES_STREAM, plan)
        bench.errors += pair.errors
        bench.noise += pair.noise
    notes = Footnotes(
        patchbay_rss_mib=rss_mib(patchbay.server.pid) if patchbay else None,
        passthrough_rss_mib=rss_mib(targets[PASSTHROUGH].server.pid)[1],
        patchbay_startup_s=startups.get(PATCHBAY),
        passthrough_startup_s=startups.get(PASSTHROUGH),
        errors=bench.errors,
        noise=bench.noise,
        load_before=load_before,
    )
    print()
    print(render_table([*rows, latency_row]))
    print()
    print(render_cpu_table([*rows, latency_row]))
    print()
    print(render_footnotes(notes, latency_row))
    if FLOOR in targets:
        print()
        print(render_floor_table([*rows, latency_row]))
    if messages_row is not None:
        print()
        print(render_messages_table(messages_row))
    if plan.profile > 0 and patchbay is not None:
        print()
        print(profile_under_load(patchbay, bench.load, chosen, plan.profile, rig.workdir))
    return 1 if bench.errors else 0


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    args, plan = parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # Also when started in the background, where SIGINT arrives ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rig = Rig(Path(tempfile.mkdtemp(prefix="patchbay-bench-")))
    failed = True
    try:
        status = benchmark(rig, args, plan)
        failed = False
        return status
    except (RigError, LoadError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        rig.stop_all()
        if failed:
            print(f"logs kept in {rig.workdir}", file=sys.stderr)
        else:
            shutil.rmtree(rig.workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
