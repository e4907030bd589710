"""Prometheus series for GET /metrics, every name prefixed `patchbay_`.

The only module that imports prometheus_client. One worker keeps its samples in its
own registry. Several workers use prometheus_client's multiprocess mode: when
PROMETHEUS_MULTIPROC_DIR is set before the workers start (`prepare_multiprocess`),
each worker writes its samples to files there and a scrape, whichever worker answers
it, adds up every worker's files, so totals are exact.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

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
        MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return generate_latest(merged)
