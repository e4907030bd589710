"""Cells folded into prometheus-client's series give exactly what calling the series
for each observation gives (engine/observe/cells.py reaches into a histogram child)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from engine.observe.cells import Cells

BOUNDS = (0.01, 0.1, 1.0)
VALUES = (0.0, 0.01, 0.010001, 0.05, 0.1, 0.5, 1.0, 2.0, 1e9, 0.003)


def exposition(registry: CollectorRegistry) -> list[str]:
    return [
        line for line in generate_latest(registry).decode().splitlines() if "_created" not in line
    ]


def series(registry: CollectorRegistry) -> tuple[Histogram, Counter]:
    histogram = Histogram("t_seconds", "h", ["route"], buckets=BOUNDS, registry=registry)
    counter = Counter("t_requests", "c", ["route"], registry=registry)
    return histogram, counter


def test_folded_cells_match_direct_observations() -> None:
    direct, folded = CollectorRegistry(), CollectorRegistry()
    histogram, counter = series(direct)
    for value in VALUES:
        histogram.labels("/a").observe(value)
        counter.labels("/a").inc(value)
    cells = Cells()
    histogram_cells, counter_cells = series(folded)
    h = cells.histogram(histogram_cells.labels("/a"), BOUNDS)
    c = cells.counter(counter_cells.labels("/a"))
    for value in VALUES[:4]:
        h.observe(value)
        c.add(value)
    cells.fold()  # twice: what a fold hands over is not handed over again
    for value in VALUES[4:]:
        h.observe(value)
        c.add(value)
    cells.fold()
    cells.fold()
    assert exposition(folded) == exposition(direct)
    assert 't_seconds_bucket{le="+Inf",route="/a"} 10.0' in exposition(folded)
