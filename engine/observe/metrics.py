"""Prometheus series for GET /metrics, every name prefixed `patchbay_`.

One worker keeps its samples in its own registry; several share them through files
(engine/observe/workers.py). With workers.py and readings.py, the only modules that
import prometheus_client.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from engine.observe.cells import Cells, CounterCell, HistogramCell
from engine.observe.exchange import Exchange
from engine.observe.readings import Readings, read_off
from engine.observe.workers import MULTIPROC_ENV, WORKER_RESTARTS, WORKER_RESTARTS_HELP, WorkerFiles

# The text format every Prometheus version reads; all of Patchbay's names are plain ASCII.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
RELOAD_RESULTS = ("applied", "unchanged", "rejected")
# Seconds; from a cached answer to a long generation.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Seconds of the gateway's own work on one request.
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
# Seconds per streamed output token.
TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1)
CHILDREN = 8192  # label children looked up and kept, at most


TOKEN_TYPES = ("prompt", "completion", "cached", "reasoning")


class _RequestSeries:
    """The cells of one kind of request (route, status, model served, format, key); those
    only some answers move are made when the first one does."""

    __slots__ = (
        "duration",
        "first_token",
        "overhead",
        "per_token",
        "requests",
        "tokens",
        "upstream",
    )

    def __init__(
        self,
        requests: CounterCell,
        duration: HistogramCell,
        overhead: HistogramCell,
        upstream: HistogramCell | None,  # None when no provider served it
    ) -> None:
        self.requests = requests
        self.duration = duration
        self.overhead = overhead
        self.upstream = upstream
        self.first_token: HistogramCell | None = None
        self.per_token: HistogramCell | None = None
        self.tokens: list[CounterCell | None] = [None] * len(TOKEN_TYPES)


class Metrics:
    """One worker's series. `record` reads a whole Exchange once it is answered: one
    lookup finds the cells of its kind of request, and recording is additions to them
    (engine/observe/cells.py), folded into the series when they are read."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "patchbay_requests",
            "Requests answered on routes.yaml routes, by route, method, status code, "
            "provider and model served (PROVIDER/MODEL; empty when no provider was "
            "reached), inbound format and client key name ('' for anonymous).",
            ["route", "method", "status", "provider", "model", "format", "key"],
            registry=registry,
        )
        self.duration = Histogram(
            "patchbay_request_duration_seconds",
            "Time from request to the last byte of the answer (streams included).",
            ["route", "method", "model"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.upstream_duration = Histogram(
            "patchbay_upstream_duration_seconds",
            "Of a request's time, the part spent waiting on upstreams (every attempt, "
            "and a stream's relay after its first event).",
            ["provider", "model"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.overhead = Histogram(
            "patchbay_gateway_overhead_seconds",
            "Of a request's time, Patchbay's own: the whole less the upstream part.",
            ["route"],
            buckets=OVERHEAD_BUCKETS,
            registry=registry,
        )
        self.first_token = Histogram(
            "patchbay_time_to_first_token_seconds",
            "Streams: time from request to the first event of the answer.",
            ["provider", "model"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.per_token = Histogram(
            "patchbay_time_per_output_token_seconds",
            "Streams: time after the first event, per further output token.",
            ["provider", "model"],
            buckets=TOKEN_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "patchbay_tokens",
            "Tokens answers reported (or, for a stream without usage, estimated), by "
            "type: prompt, completion, and of those cached and reasoning.",
            ["provider", "model", "key", "type"],
            registry=registry,
        )
        self.upstream = Counter(
            "patchbay_upstream_requests",
            "Attempts at an upstream provider, by outcome (ok or the failure class).",
            ["provider", "model", "outcome"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "patchbay_fallbacks",
            "Moves to the next target of a model or alias after a failure.",
            ["model"],
            registry=registry,
        )
        self.retries = Counter(
            "patchbay_retries",
            "Further attempts at the same target after a failure.",
            ["model"],
            registry=registry,
        )
        self.cooldowns = Counter(
            "patchbay_cooldowns_entered",
            "Cooldowns started by failures (a connection failure cools the whole provider).",
            ["provider", "model"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "patchbay_rate_limited",
            "Requests refused by a client's rate limit (requests or tokens per minute).",
            ["route", "key"],
            registry=registry,
        )
        self.disconnects = Counter(
            "patchbay_client_disconnects",
            "Requests whose client hung up before the answer was complete.",
            ["route"],
            registry=registry,
        )
        self.streams = Gauge(
            "patchbay_streams_in_flight",
            "Streamed answers being relayed now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.reloads = Counter(
            "patchbay_config_reloads",
            "Config re-reads by result: applied, unchanged or rejected.",
            ["result"],
            registry=registry,
        )
        # Counted by the supervisor; a worker shows it at 0 (alone, there is none).
        Counter(WORKER_RESTARTS, WORKER_RESTARTS_HELP, registry=registry)
        self.speech_characters = Counter(
            "patchbay_speech_characters",
            "Characters of text sent to be spoken (POST /v1/audio/speech).",
            registry=registry,
        )
        self.transcribed_seconds = Counter(
            "patchbay_transcribed_audio_seconds",
            "Seconds of audio transcribed or translated, as the upstream reported them.",
            registry=registry,
        )
        self._reloads_seen = dict.fromkeys(RELOAD_RESULTS, 0)
        for result in RELOAD_RESULTS:
            self.reloads.labels(result)
        self._cells = Cells()
        self._requests: dict[tuple[str | int, ...], _RequestSeries] = {}
        self._attempts: dict[tuple[str, str, str], CounterCell] = {}
        self._children: dict[tuple[Any, ...], Any] = {}
        self.spend = SpendSeries(registry)  # cost and the response cache

    def _child(self, series: Any, *labels: str) -> Any:
        """`series.labels(*labels)`, looked up once (prometheus_client's `labels()`
        validates and locks on every call)."""
        key = (id(series), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = series.labels(*labels)
        return child

    def _request_series(self, ex: Exchange) -> _RequestSeries:
        """The children one kind of request moves, found with one lookup; the tables are
        emptied when they grow past CHILDREN (labels come from the config, which reloads
        may change)."""
        key = (ex.route, ex.method, ex.status, ex.provider, ex.model, ex.wire, ex.key)
        found = self._requests.get(key)
        if found is not None:
            return found
        if len(self._requests) >= CHILDREN:
            self._cells.clear()
            self._requests.clear()
            self._attempts.clear()
            self._children.clear()
        child, served = self._child, (ex.provider, ex.model)
        counter, histogram = self._cells.counter, self._cells.histogram
        found = self._requests[key] = _RequestSeries(
            counter(
                child(self.requests, ex.route, ex.method, str(ex.status), *served, ex.wire, ex.key)
            ),
            histogram(child(self.duration, ex.route, ex.method, ex.model), DURATION_BUCKETS),
            histogram(child(self.overhead, ex.route), OVERHEAD_BUCKETS),
            histogram(child(self.upstream_duration, *served), DURATION_BUCKETS)
            if ex.provider
            else None,
        )
        return found

    def record(self, ex: Exchange, ended: float) -> None:
        """Count one answered request; `ended` is the perf_counter of its last byte."""
        series = self._request_series(ex)
        total = ended - ex.started
        upstream = ex.upstream_seconds
        series.requests.add()
        series.duration.observe(total)
        series.overhead.observe(total - upstream if total > upstream else 0.0)
        for attempt in ex.attempts:
            self._attempt(attempt.provider, attempt.model, attempt.outcome).add()
            if attempt.cooled:
                self._child(self.cooldowns, attempt.provider, attempt.model).inc()
        if ex.fallbacks or ex.retries or ex.rate_limited or ex.disconnected:
            self._record_rare(ex)
        if series.upstream is None:
            return
        series.upstream.observe(upstream)
        tokens = ex.tokens
        counts = (tokens.prompt, tokens.completion, tokens.cached, tokens.reasoning)
        for index, count in enumerate(counts):
            if count:
                (series.tokens[index] or self._token_cell(series, ex, index)).add(count)
        if ex.first_token is not None:
            (series.first_token or self._stream_cells(series, ex)).observe(ex.first_token)
            if tokens.completion > 1 and series.per_token is not None:
                series.per_token.observe((total - ex.first_token) / (tokens.completion - 1))

    def _token_cell(self, series: _RequestSeries, ex: Exchange, index: int) -> CounterCell:
        """A kind of token's cell, made when the first count of it comes (a series that
        never moves is not shown at 0)."""
        labels = (ex.provider, ex.model, ex.key, TOKEN_TYPES[index])
        cell = series.tokens[index] = self._cells.counter(self._child(self.tokens, *labels))
        return cell

    def _stream_cells(self, series: _RequestSeries, ex: Exchange) -> HistogramCell:
        """The time-to-first-token and per-token cells, made with the first stream."""
        served, histogram = (ex.provider, ex.model), self._cells.histogram
        series.per_token = histogram(self._child(self.per_token, *served), TOKEN_BUCKETS)
        cell = series.first_token = histogram(
            self._child(self.first_token, *served), DURATION_BUCKETS
        )
        return cell

    def _attempt(self, provider: str, model: str, outcome: str) -> CounterCell:
        key = (provider, model, outcome)
        found = self._attempts.get(key)
        if found is None:
            found = self._attempts[key] = self._cells.counter(self.upstream.labels(*key))
        return found

    def fold(self) -> None:
        """Hand the cells' counts to the series (engine/observe/cells.py)."""
        self._cells.fold()

    def _record_rare(self, ex: Exchange) -> None:
        """What only some requests count: fallbacks, retries, refusals, hang-ups."""
        child = self._child
        if ex.fallbacks:
            child(self.fallbacks, ex.plan).inc(ex.fallbacks)
        if ex.retries:
            child(self.retries, ex.plan).inc(ex.retries)
        if ex.rate_limited:
            child(self.rate_limited, ex.route, ex.key).inc()
        if ex.disconnected:
            child(self.disconnects, ex.route).inc()

    def count_audio(self, measure: str, amount: float) -> None:
        """`speech_characters` or `transcribed_seconds`: audio's own counters."""
        counter = self.speech_characters if measure == "speech_characters" else None
        (counter or self.transcribed_seconds).inc(amount)

    def families(self, readings: Readings) -> list[Metric]:
        """Every series, summed over the workers in multiprocess mode, and the readings."""
        self.fold()
        for result, count in readings.reloads.items():
            # The reloader counts; the counter catches up with it at each scrape.
            seen = self._reloads_seen.get(result, 0)
            if count > seen:
                self.reloads.labels(result).inc(count - seen)
                self._reloads_seen[result] = count
        counts: Collector = self.registry
        if self.multiprocess:
            counts = WorkerFiles(Path(os.environ[MULTIPROC_ENV]))
        return [*counts.collect(), *read_off(readings)]

    def scrape(self, readings: Readings) -> bytes:
        """The exposition text."""
        return generate_latest(_Fixed(self.families(readings)))


class _Fixed:
    """A registry-like holder of families already collected, for `generate_latest`."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


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
