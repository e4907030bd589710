"""Counts kept as plain numbers on the request path, folded into prometheus-client's
series when they are read.

A prometheus-client child takes a lock and a few checks for each increment, and a
histogram also searches its buckets in Python; a request moves about a dozen of them.
A cell instead adds to a float (a histogram cell: to its bucket's count, found by
bisection), and `Cells.fold` hands the sums to the children: before every scrape
this worker answers, and, with several workers, every FOLD_SECONDS so that the others'
scrapes see it (engine/runtime.py runs that).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

FOLD_SECONDS = 0.5


class CounterCell:
    __slots__ = ("child", "pending")

    def __init__(self, child: Any) -> None:
        self.child = child  # a prometheus_client Counter child
        self.pending = 0.0

    def add(self, amount: float = 1.0) -> None:
        self.pending += amount

    def fold(self) -> None:
        if self.pending:
            self.child.inc(self.pending)
            self.pending = 0.0


class HistogramCell:
    __slots__ = ("bounds", "child", "counts", "total")

    def __init__(self, child: Any, bounds: tuple[float, ...]) -> None:
        self.child = child  # a prometheus_client Histogram child with these bucket bounds
        self.bounds = (*bounds, float("inf"))
        self.counts = [0] * len(self.bounds)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bound >= value
        self.total += value

    def fold(self) -> None:
        if not any(self.counts):
            return
        # prometheus_client has no call that adds many observations at once: its child
        # keeps one value per bucket (not cumulative) and one for the sum, as `observe`
        # fills them. tests/test_metric_cells.py checks the result against `observe`.
        buckets, total = self.child._buckets, self.child._sum
        for index, count in enumerate(self.counts):
            if count:
                buckets[index].inc(count)
                self.counts[index] = 0
        total.inc(self.total)
        self.total = 0.0


class Cells:
    """Every cell of one worker, to fold together."""

    def __init__(self) -> None:
        self._all: list[CounterCell | HistogramCell] = []

    def counter(self, child: Any) -> CounterCell:
        cell = CounterCell(child)
        self._all.append(cell)
        return cell

    def histogram(self, child: Any, bounds: tuple[float, ...]) -> HistogramCell:
        cell = HistogramCell(child, bounds)
        self._all.append(cell)
        return cell

    def fold(self) -> None:
        for cell in self._all:
            cell.fold()

    def clear(self) -> None:
        """Fold, then forget every cell (their children stay in the registry)."""
        self.fold()
        self._all.clear()
