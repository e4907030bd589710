"""The benchmark's printed result: one table, then memory, start-up and added latency."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from loadgen import Figure, Sample

DIRECT, PATCHBAY, PASSTHROUGH, FLOOR = "direct", "patchbay", "passthrough", "floor"
MESSAGES = "messages"  # Patchbay's /v1/messages, translated to the openai-kind provider
COLUMNS = (
    (DIRECT, "(a) upstream direct"),
    (PATCHBAY, "(b) patchbay"),
    (PASSTHROUGH, "(c) passthrough"),
)
CELL = 26
BUSY_LOAD = 0.5


@dataclass(frozen=True)
class Row:
    """One scenario's runs by target, the i-th run of each target made back to back.

    Figures are each target's medians. Ratios and the added latency are paired: the
    median, over the rounds, of what the two targets measured in the same round, so
    that other load on the machine, which shifts both sides of a round alike, drops
    out (a ratio of medians can pair one target's good minute with another's bad one).
    """

    scenario: str
    runs: Mapping[str, Sequence[Sample]]

    @cached_property
    def figures(self) -> dict[str, Figure]:
        return {key: Figure.median_of(runs) for key, runs in self.runs.items() if runs}

    def ratio(self, top: str, bottom: str) -> str:
        return self._paired_ratio(top, bottom, lambda run: run.requests_per_s)

    def cpu_ratio(self, top: str, bottom: str) -> str:
        """CPU/request of `top` over `bottom`'s."""
        return self._paired_ratio(top, bottom, lambda run: run.cpu_us_per_request)

    def paired(self, top: str, bottom: str) -> list[tuple[Sample, Sample]]:
        """The rounds' (top, bottom) runs; none when either target was not measured."""
        a, b = self.runs.get(top), self.runs.get(bottom)
        return list(zip(a, b, strict=True)) if a and b else []

    def _paired_ratio(self, top: str, bottom: str, figure: Callable[[Sample], float]) -> str:
        ratios = [figure(a) / figure(b) for a, b in self.paired(top, bottom) if figure(b) > 0]
        return f"{statistics.median(ratios):.2f}x" if ratios else "-"


@dataclass(frozen=True)
class Footnotes:
    """What the table does not hold: memory, start-up, latency at one client, errors."""

    patchbay_rss_mib: tuple[float, float] | None  # (worker, all processes)
    passthrough_rss_mib: float | None
    patchbay_startup_s: float | None
    passthrough_startup_s: float | None
    errors: Sequence[str]
    noise: Sequence[str]
    load_before: float  # one-minute load average before any server started


def _ms(value: float) -> str:
    return f"{value:.2f}ms" if value < 10 else f"{value:.1f}ms"


def _cell(figure: Figure | None) -> str:
    if figure is None:
        return "-".center(CELL)
    rate = f"{figure.requests_per_s:,.0f}"
    return f"{rate:>8} {_ms(figure.p50_ms):>8} {_ms(figure.p99_ms):>8}"


def render_table(rows: Sequence[Row]) -> str:
    """Rows per scenario; req/s, p50 and p99 per target; then b/a and b/c on req/s."""
    width = max(len("scenario"), *(len(row.scenario) for row in rows))
    head = " | ".join(f"{label:^{CELL}}" for _, label in COLUMNS)
    units = " | ".join(f"{'req/s':>8} {'p50':>8} {'p99':>8}" for _ in COLUMNS)
    lines = [
        f"{'scenario':<{width}} | {head} | {'b/a':>6} | {'b/c':>6}",
        f"{'':<{width}} | {units} | {'':>6} | {'':>6}",
    ]
    lines.append("-" * len(lines[0]))
    for row in rows:
        cells = " | ".join(_cell(row.figures.get(key)) for key, _ in COLUMNS)
        lines.append(
            f"{row.scenario:<{width}} | {cells} | "
            f"{row.ratio(PATCHBAY, DIRECT):>6} | {row.ratio(PATCHBAY, PASSTHROUGH):>6}"
        )
    return "\n".join(lines)


def render_cpu_table(rows: Sequence[Row]) -> str:
    """Each server's own CPU time per request: steady even when the machine is busy."""
    width = max(len("CPU us/request"), *(len(row.scenario) for row in rows))
    labels = " | ".join(f"{label:>20}" for _, label in COLUMNS)
    lines = [f"{'CPU us/request':<{width}} | {labels} | {'b/c':>6}"]
    lines.append("-" * len(lines[0]))
    for row in rows:
        cells = " | ".join(_cpu_cell(row.figures.get(key)) for key, _ in COLUMNS)
        lines.append(
            f"{row.scenario:<{width}} | {cells} | {row.cpu_ratio(PATCHBAY, PASSTHROUGH):>6}"
        )
    return "\n".join(lines)


def render_floor_table(rows: Sequence[Row]) -> str:
    """(d) the stack floor, `bare_relay.py`: how far Patchbay (b) and the passthrough (c)
    sit above the least a relay on the same stack costs, by req/s and by CPU/request."""
    width = max(len("(d) stack floor"), *(len(row.scenario) for row in rows))
    lines = [
        f"{'(d) stack floor':<{width}} | {'req/s':>8} | {'CPU us/req':>10} | "
        f"{'d/b req/s':>9} | {'d/c req/s':>9} | {'b/d CPU':>7} | {'c/d CPU':>7}"
    ]
    lines.append("-" * len(lines[0]))
    for row in rows:
        floor = row.figures.get(FLOOR)
        if floor is None:
            continue
        lines.append(
            f"{row.scenario:<{width}} | {floor.requests_per_s:>8,.0f} | "
            f"{floor.cpu_us_per_request:>10,.0f} | {row.ratio(FLOOR, PATCHBAY):>9} | "
            f"{row.ratio(FLOOR, PASSTHROUGH):>9} | {row.cpu_ratio(PATCHBAY, FLOOR):>7} | "
            f"{row.cpu_ratio(PASSTHROUGH, FLOOR):>7}"
        )
    return "\n".join(lines)


def _cpu_cell(figure: Figure | None) -> str:
    return f"{figure.cpu_us_per_request:>20,.0f}" if figure else f"{'-':>20}"


def added_latency(row: Row, target: str) -> str:
    """p50 of `target` minus p50 of the upstream direct, at one client (paired)."""
    added = [proxied.p50_ms - direct.p50_ms for proxied, direct in row.paired(target, DIRECT)]
    return f"{statistics.median(added):+.3f} ms" if added else "-"


def render_footnotes(notes: Footnotes, latency_row: Row | None) -> str:
    lines = []
    if notes.patchbay_rss_mib is not None:
        worker, total = notes.patchbay_rss_mib
        lines.append(f"patchbay RSS after the run: {worker:.1f} MiB worker, {total:.1f} MiB all")
    if notes.passthrough_rss_mib is not None:
        lines.append(f"passthrough RSS after the run: {notes.passthrough_rss_mib:.1f} MiB")
    if notes.patchbay_startup_s is not None:
        lines.append(f"patchbay start-up to first 200: {notes.patchbay_startup_s:.2f} s (median)")
    if notes.passthrough_startup_s is not None:
        lines.append(f"passthrough start-up to first 200: {notes.passthrough_startup_s:.2f} s")
    if latency_row is not None:
        lines.append(
            "added latency at 1 client (p50 minus direct): "
            f"patchbay {added_latency(latency_row, PATCHBAY)}, "
            f"passthrough {added_latency(latency_row, PASSTHROUGH)}"
        )
    lines.append(f"machine load average (1 min) before the run: {notes.load_before:.2f}")
    if notes.load_before > BUSY_LOAD:
        lines.append(
            "  other work shared the cores: req/s and latency are noisy, CPU/request less so"
        )
    if notes.noise:
        lines.append("runs that varied by more than 25% (other load on the machine?):")
        lines.extend(f"  {spread}" for spread in notes.noise)
    if notes.errors:
        lines.append(f"!!! {len(notes.errors)} RUNS HAD REQUEST ERRORS !!!")
        lines.extend(f"!!!   {error}" for error in notes.errors)
    else:
        lines.append("errors: none (no non-2xx, no socket errors)")
    return "\n".join(lines)


def render_messages_table(row: Row) -> str:
    """Patchbay's /v1/messages stream (Anthropic's format in, chat completions to the
    upstream, translated back) beside its own chat stream, run in the same rounds."""
    head = (
        f"{'(b) patchbay, streams c=32':<30} | {'req/s':>8} | {'p50':>8} | "
        f"{'CPU us/req':>10} | {'/chat req/s':>11} | {'/chat CPU':>9}"
    )
    lines = [head, "-" * len(head)]
    for key, label in ((PATCHBAY, "/v1/chat/completions"), (MESSAGES, "/v1/messages (translated)")):
        figure = row.figures.get(key)
        if figure is None:
            continue
        rate = row.ratio(key, PATCHBAY) if key == MESSAGES else ""
        cpu = row.cpu_ratio(key, PATCHBAY) if key == MESSAGES else ""
        lines.append(
            f"{label:<30} | {figure.requests_per_s:>8,.0f} | {_ms(figure.p50_ms):>8} | "
            f"{figure.cpu_us_per_request:>10,.0f} | {rate:>11} | {cpu:>9}"
        )
    return "\n".join(lines)
