"""Profile Patchbay's worker with py-spy while wrk loads it; summarise where time goes.

The raw collapsed stacks are kept in bench/results/ (one file per scenario) for
flame-graph tools; the printed summary lists the hottest leaf functions overall, the
hottest of Patchbay's own functions (engine/) by inclusive time, and which library
calls Patchbay's deepest frames spend their time in.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from gateway import Target
from loadgen import LoadGenerator, Scenario
from rig import heaviest_process

RESULTS = Path(__file__).resolve().parent / "results"
OWN_CODE = "engine/"
LOOP_RUNNERS = ("Runner.run ", "BaseEventLoop.run_forever ", "BaseEventLoop.run_until_complete ")
TOP = 15


def profile_under_load(
    target: Target,
    load: LoadGenerator,
    scenarios: Sequence[Scenario],
    seconds: float,
    workdir: Path,
) -> str:
    """Record each scenario for `seconds` under wrk load; return the printed summary."""
    if shutil.which("py-spy") is None:
        return "profile skipped: py-spy is not installed (pip install py-spy)"
    worker = heaviest_process(target.server.pid)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    sections = []
    for scenario in scenarios:
        slug = scenario.name.replace(" ", "-").replace("=", "")
        raw = RESULTS / f"profile-{stamp}-{slug}.txt"
        error = _record(worker, raw, load, target, scenario, seconds, workdir)
        if error:
            sections.append(f"profile of {scenario.name} failed: {error}")
        else:
            sections.append(summarize(raw.read_text(), f"{scenario.name} ({raw})"))
    return "\n\n".join(sections)


def _record(
    worker: int,
    raw: Path,
    load: LoadGenerator,
    target: Target,
    scenario: Scenario,
    seconds: float,
    workdir: Path,
) -> str:
    """Run py-spy on `worker` while wrk runs; return its error text, empty on success."""
    whole = math.ceil(seconds)
    log = workdir / "py-spy.log"
    command = [
        "py-spy", "record", "--pid", str(worker), "--duration", str(whole),
        "--rate", "250", "--nonblocking", "--nolineno", "--format", "raw",
        "--output", str(raw),
    ]  # fmt: skip
    with log.open("wb") as sink:
        spy = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        try:
            load.run(target.url, scenario, whole + 1)
            spy.wait(timeout=whole + 30)
        finally:
            if spy.poll() is None:
                spy.kill()
                spy.wait()
    if spy.returncode != 0 or not raw.exists():
        return log.read_text(errors="replace")[-500:]
    return ""


def summarize(collapsed: str, title: str) -> str:
    """Top leaf functions overall; engine/ functions by inclusive time; and where they call out.

    Frames below the event loop's runner (module, CLI, serve) hold every callback the
    loop runs, so engine/ frames are counted only above the last runner frame.
    """
    leaves: Counter[str] = Counter()
    own: Counter[str] = Counter()
    calls_out: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count, frames = int(count_text), stack.split(";")
        total += count
        leaves[frames[-1]] += count
        frames = frames[_past_loop_runner(frames) :]
        for frame in set(frames):
            if OWN_CODE in frame:
                own[frame] += count
        deepest = max((i for i, f in enumerate(frames) if OWN_CODE in f), default=None)
        if deepest is not None:
            callee = frames[deepest + 1] if deepest + 1 < len(frames) else "(self)"
            calls_out[f"{frames[deepest]} -> {callee}"] += count
    if total == 0:
        return f"profile {title}: no samples"
    return "\n".join(
        [
            f"profile {title}: {total} samples",
            *_section("hottest functions, self time", leaves, total),
            *_section(f"Patchbay's own code ({OWN_CODE}), inclusive time", own, total),
            *_section("where Patchbay's deepest frame spends it", calls_out, total),
        ]
    )


def _past_loop_runner(frames: list[str]) -> int:
    runners = [i for i, frame in enumerate(frames) if frame.startswith(LOOP_RUNNERS)]
    return runners[-1] + 1 if runners else 0


def _section(heading: str, counts: Counter[str], total: int) -> list[str]:
    lines = [f"  {heading}:"]
    lines += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in counts.most_common(TOP)]
    return lines
