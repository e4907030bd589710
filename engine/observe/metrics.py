"""Prometheus series for GET /metrics, every name prefixed `patchbay_`.

The only module that imports prometheus_client. One worker keeps its samples in its
own registry. Several workers use prometheus_client's multiprocess mode: when
PROMETHEUS_MULTIPROC_DIR is set before the workers start (`prepare_multiprocess`),
each worker writes its samples to files there and a scrape, whichever worker answers
it, adds up every worker's files, so totals are exact.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The text format every Prometheus version reads; all of Patchbay's names are plain ASCII.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
RELOAD_RESULTS = ("applied", "unchanged", "rejected")
# Seconds; from a cached answer to a long generation.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


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


class Metrics:
    """One worker's series; recording a sample is a dictionary hit and two increments."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "patchbay_requests",
            "Requests answered on routes.yaml routes.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "patchbay_request_duration_seconds",
            "Time from request to the last byte of the answer (streams included).",
            ["route", "method"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.upstream = Counter(
            "patchbay_upstream_requests",
            "Attempts at an upstream provider, by outcome (ok or the failure class).",
            ["provider", "outcome"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "patchbay_config_reloads",
            "Config re-reads by result: applied, unchanged or rejected.",
            ["result"],
            registry=self.registry,
        )
        # Counted by the supervisor; a worker shows it at 0 (alone, there is none).
        Counter(WORKER_RESTARTS, WORKER_RESTARTS_HELP, registry=self.registry)
        self.speech_characters = Counter(
            "patchbay_speech_characters",
            "Characters of text sent to be spoken (POST /v1/audio/speech).",
            registry=self.registry,
        )
        self.transcribed_seconds = Counter(
            "patchbay_transcribed_audio_seconds",
            "Seconds of audio transcribed or translated, as the upstream reported them.",
            registry=self.registry,
        )
        self._reloads_seen = dict.fromkeys(RELOAD_RESULTS, 0)
        for result in RELOAD_RESULTS:
            self.reloads.labels(result)
        # labels() validates and takes a lock on every call: each child is looked up once.
        requests, duration = self.requests, self.duration

        @functools.cache
        def request_series(route: str, method: str, status: int) -> tuple[Counter, Histogram]:
            return requests.labels(route, method, str(status)), duration.labels(route, method)

        self._request_series = request_series
        self._upstream_series = functools.cache(self.upstream.labels)
        self.spend = SpendSeries(self.registry)  # cost and the response cache

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        count, duration = self._request_series(route, method, status)
        count.inc()
        duration.observe(seconds)

    def observe_upstream(self, provider: str, failure: str | None) -> None:
        """One attempt: "ok", a failure class ("connect", "timeout", "429", "5xx", "4xx")
        or "client_error" for a request the provider kind itself refused."""
        self._upstream_series(provider, failure or "client_error").inc()

    def count_audio(self, measure: str, amount: float) -> None:
        """`speech_characters` or `transcribed_seconds`: audio's own counters."""
        counter = self.speech_characters if measure == "speech_characters" else None
        (counter or self.transcribed_seconds).inc(amount)

    def scrape(self, reloads: Mapping[str, int]) -> bytes:
        """The exposition text; `reloads` are the worker's reload counts so far."""
        for result, count in reloads.items():
            # The reloader counts; the counter catches up with it at each scrape.
            seen = self._reloads_seen.get(result, 0)
            if count > seen:
                self.reloads.labels(result).inc(count - seen)
                self._reloads_seen[result] = count
        if not self.multiprocess:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        merged.register(WorkerFiles(Path(os.environ[MULTIPROC_ENV])))
        return generate_latest(merged)


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


# --- spend: cost of answers and the response cache ----------------------------------------


class SpendSeries:
    """`patchbay_cost_usd_total{provider,model,key}` and
    `patchbay_response_cache_total{model,result}` (HIT, MISS or BYPASS)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        cost = Counter(
            "patchbay_cost_usd",
            "US dollars spent on answers, by provider, model and client key (anonymous: '').",
            ["provider", "model", "key"],
            registry=registry,
        )
        cache = Counter(
            "patchbay_response_cache",
            "Response cache lookups by model name asked for and result: HIT, MISS or BYPASS.",
            ["model", "result"],
            registry=registry,
        )
        self._cost_series = functools.lru_cache(maxsize=4096)(cost.labels)
        self._cache_series = functools.lru_cache(maxsize=4096)(cache.labels)

    def cost(self, provider: str, model: str, key: str | None, dollars: float) -> None:
        self._cost_series(provider, model, key or "").inc(dollars)

    def cache(self, model: str, result: str) -> None:
        self._cache_series(model, result).inc()
