"""Profile Patchbay's worker with py-spy while wrk loads it; summarise where time goes.

The raw collapsed stacks are kept in bench/results/ (one file per scenario) for
flame-graph tools; the printed summary lists the hottest leaf functions overall and
the hottest of Patchbay's own functions (engine/) by inclusive time.
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
    """Top leaf functions (self time) and top engine/ functions (inclusive time)."""
    leaves: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        leaves[frames[-1]] += count
        for frame in set(frames):
            if OWN_CODE in frame:
                own[frame] += count
    if total == 0:
        return f"profile {title}: no samples"
    lines = [f"profile {title}: {total} samples", "  hottest functions, self time:"]
    lines += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in leaves.most_common(TOP)]
    lines.append(f"  Patchbay's own code ({OWN_CODE}), inclusive time:")
    lines += [f"    {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(TOP)]
    return "\n".join(lines)
