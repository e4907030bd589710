"""The dashboard's reading of the metric families: cumulative totals, summed over labels.

GET /dashboard/data sends these; the page turns two successive readings into rates and
quantiles. Counts only grow (a worker that starts afresh starts its own from zero).
The families come from `Metrics.families`, every worker's in multiprocess mode; this
module reads them through the small protocols below, so it needs no prometheus_client.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.observe.metrics import DURATION_BUCKETS

TOKEN_TYPES = ("prompt", "completion", "cached", "reasoning")


class Sample(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def labels(self) -> Mapping[str, str]: ...
    @property
    def value(self) -> float: ...


class Family(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def samples(self) -> Sequence[Sample]: ...


@dataclass(slots=True)
class Buckets:
    """A histogram summed over its labels: cumulative counts at each finite bound `le`,
    `count` (the +Inf bucket) and `sum` of the observed seconds."""

    le: tuple[float, ...] = DURATION_BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))
    count: int = 0
    sum: float = 0.0

    def add(self, sample: Sample) -> None:
        kind = sample.name.rpartition("_")[2]
        if kind == "sum":
            self.sum += sample.value
        elif kind == "count":
            self.count += round(sample.value)
        elif kind == "bucket" and sample.labels.get("le") != "+Inf":
            bound = float(sample.labels.get("le", "nan"))
            if bound in self.le:
                self.counts[self.le.index(bound)] += round(sample.value)

    def json(self) -> dict[str, Any]:
        return {"le": list(self.le), "counts": self.counts, "count": self.count, "sum": self.sum}


@dataclass(slots=True)
class Totals:
    """Everything counted so far, by what the dashboard draws."""

    requests: int = 0
    errors_5xx: int = 0
    errors_4xx: int = 0
    duration: Buckets = field(default_factory=Buckets)
    first_token: Buckets = field(default_factory=Buckets)
    tokens: dict[str, dict[str, int]] = field(default_factory=dict)  # model -> type -> count
    upstream: dict[str, dict[str, int]] = field(default_factory=dict)  # provider -> outcome -> n

    def read(self, families: Iterable[Family], skip: Collection[tuple[str, str]] = ()) -> Totals:
        """Add up `families`, leaving out requests to the (route, method) pairs in `skip`."""
        for family in families:
            for sample in family.samples:
                self._add(family.name, sample, skip)
        return self

    def _add(self, family: str, sample: Sample, skip: Collection[tuple[str, str]]) -> None:
        labels = sample.labels
        if (labels.get("route", ""), labels.get("method", "")) in skip:
            return
        if family == "patchbay_requests" and sample.name.endswith("_total"):
            self._count_request(labels.get("status", ""), round(sample.value))
        elif family == "patchbay_request_duration_seconds":
            self.duration.add(sample)
        elif family == "patchbay_time_to_first_token_seconds":
            self.first_token.add(sample)
        elif family == "patchbay_tokens" and sample.name.endswith("_total"):
            _tally(self.tokens, labels, "model", "type", sample.value)
        elif family == "patchbay_upstream_requests" and sample.name.endswith("_total"):
            _tally(self.upstream, labels, "provider", "outcome", sample.value)

    def _count_request(self, status: str, count: int) -> None:
        self.requests += count
        if status.startswith("5"):
            self.errors_5xx += count
        elif status.startswith("4"):
            self.errors_4xx += count


def _tally(
    table: dict[str, dict[str, int]], labels: Mapping[str, str], row: str, column: str, value: float
) -> None:
    """Add `value` to `table[labels[row]][labels[column]]`."""
    counts = table.setdefault(labels.get(row, ""), {})
    name = labels.get(column, "")
    counts[name] = counts.get(name, 0) + round(value)
