"""Several workers' samples: prometheus_client's multiprocess mode, set up before the
workers start, and the supervisor's count of workers it replaced.

When PROMETHEUS_MULTIPROC_DIR is set before the workers start (`prepare_multiprocess`),
each worker writes its samples to files there and a scrape, whichever worker answers
it, adds up every worker's files (`WorkerFiles`), so totals are exact. With
engine/observe/metrics.py and engine/observe/readings.py, the only modules that import
prometheus_client.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import Counter, values
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess(directory: Path) -> None:
    """Empty `directory` and point this process and the workers it starts at it.

    Call in the parent before starting workers: samples of an earlier run are dropped.
    """
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(directory)


WORKER_RESTARTS = "patchbay_worker_restarts"
WORKER_RESTARTS_HELP = "Workers that died and were replaced by the supervisor."


class WorkerRestarts:
    """The supervisor's count of workers that died (several workers: multiprocess mode)."""

    def __init__(self) -> None:
        # prometheus_client chose where values live when it was imported, before the
        # supervisor set the directory: look again, so that this count lands in a file
        # there and every worker's scrape adds it up.
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        self.counter = Counter(WORKER_RESTARTS, WORKER_RESTARTS_HELP, registry=None)

    def record(self, pid: int) -> None:
        """Worker `pid` died: its live gauges go, its counts stay in the sums."""
        if os.environ.get(MULTIPROC_ENV):
            mark_process_dead(pid)  # type: ignore[no-untyped-call]
        self.counter.inc()


class WorkerFiles(Collector):
    """Every worker's samples, from the files of the multiprocess directory.

    A worker that is starting (a replacement, say) creates its file empty and sizes it
    a moment later; prometheus_client's own collector fails on such a file, so those
    are left out until they hold something."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def collect(self) -> Iterable[Metric]:
        files = []
        for path in self.directory.glob("*.db"):
            with contextlib.suppress(OSError):  # a file can go between glob and stat
                if path.stat().st_size > 0:
                    files.append(str(path))
        return MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-any-return, no-untyped-call]
