"""OpenTelemetry: the only module that imports it, itself imported only while tracing is on.

A Pipeline is one worker's TracerProvider (its own, never the process-global one) with
a BatchSpanProcessor exporting over OTLP/HTTP to the configured collector. Each traced
request is one SERVER span, continuing the client's W3C `traceparent` when it sends one,
with one CLIENT span per upstream attempt beneath it, whose `traceparent` goes upstream.
What the spans say is engine/observe/genai.py's. The standard OTEL_* variables tune what
`telemetry` does not set (OTEL_BSP_SCHEDULE_DELAY, OTEL_EXPORTER_OTLP_TRACES_TIMEOUT,
OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, OTEL_RESOURCE_ATTRIBUTES, ...).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Protocol

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, StatusCode, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from engine.observe import genai
from engine.observe.exchange import Attempt, Exchange
from engine.version import __version__

PROPAGATOR = TraceContextTextMapPropagator()  # W3C traceparent and tracestate
CUT_OFF = "cancelled"  # error.type of an attempt the request ended without (deadline, hang-up)
CONTENT = ("gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages")


class Telemetry(Protocol):
    """What a pipeline reads of the `telemetry` setting (engine/config/settings.py)."""

    @property
    def endpoint(self) -> str: ...
    @property
    def service_name(self) -> str: ...
    @property
    def headers(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def capture_content(self) -> bool: ...
    @property
    def sample_ratio(self) -> float: ...


Addresses = Mapping[str, tuple[str, int | None]]  # provider -> its upstream's host and port


class Pipeline:
    """The spans of one `telemetry` setting, from creation to shutdown; counts the traces
    still open so that a retired pipeline is shut down (and flushed) after the last."""

    def __init__(
        self,
        telemetry: Telemetry,
        addresses: Addresses,
        redact: Callable[[str], str],
        shut: Callable[[Callable[[], None]], None],
    ) -> None:
        self.telemetry = telemetry
        self.addresses = addresses
        self.redact = redact
        resource = Resource.create(
            {
                "service.name": telemetry.service_name,
                "service.version": __version__,
                "process.pid": os.getpid(),  # tells the workers apart
            }
        )
        sampler = ParentBased(TraceIdRatioBased(telemetry.sample_ratio))
        # Shut down by Patchbay (on a change and at the worker's stop), not at exit.
        self._provider = TracerProvider(sampler, resource, shutdown_on_exit=False)
        exporter = OTLPSpanExporter(endpoint=telemetry.endpoint, headers=dict(telemetry.headers))
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self._provider.get_tracer("patchbay", __version__)
        self._shut = shut
        self._open = 0
        self._retired = False
        self.done = False  # shut down (or shutting down)

    def follow(self, addresses: Addresses, redact: Callable[[str], str]) -> None:
        """The providers of a new snapshot, for the same telemetry."""
        self.addresses, self.redact = addresses, redact

    def begin(
        self, exchange: Exchange, headers: Mapping[str, str], operation: str | None
    ) -> RequestTrace:
        parent = PROPAGATOR.extract(headers)
        name = f"{exchange.method} {exchange.route}"  # named again once the model is known
        span = self.tracer.start_span(name, context=parent, kind=SpanKind.SERVER)
        self._open += 1
        return RequestTrace(self, span, operation)

    def ended(self) -> None:
        self._open -= 1
        if self._retired and self._open == 0:
            self._shutdown()

    def retire(self, *, force: bool = False) -> None:
        """No new traces; shut down after the open ones end (`force`: now)."""
        self._retired = True
        if force or self._open == 0:
            self._shutdown()

    def _shutdown(self) -> None:
        if not self.done:
            self.done = True
            self._shut(self._provider.shutdown)


class RequestTrace:
    """One request's spans: the Trace that engine/observe/exchange.py declares."""

    def __init__(self, pipeline: Pipeline, span: Span, operation: str | None) -> None:
        self._pipeline = pipeline
        self._span = span
        self._operation = operation
        self._attempts: list[tuple[str, str, Span]] = []  # open, in the order begun
        self._begun = 0
        self._ended = False

    def begin_attempt(self, provider: str, model: str) -> Mapping[str, str]:
        self._begun += 1
        model_id = model.removeprefix(f"{provider}/")
        attributes: genai.Attributes = {
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model_id,
            "patchbay.attempt": self._begun,
        }
        if self._operation:
            attributes["gen_ai.operation.name"] = self._operation
        address = self._pipeline.addresses.get(provider)
        if address is not None:
            attributes["server.address"] = address[0]
            if address[1] is not None:
                attributes["server.port"] = address[1]
        name = f"{self._operation} {model_id}" if self._operation else "POST"
        span = self._pipeline.tracer.start_span(
            name,
            context=set_span_in_context(self._span, Context()),
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        self._attempts.append((provider, model, span))
        carrier: dict[str, str] = {}
        PROPAGATOR.inject(carrier, context=set_span_in_context(span, Context()))
        return carrier

    def end_attempt(self, attempt: Attempt) -> None:
        for i, (provider, model, span) in enumerate(self._attempts):
            if (provider, model) == (attempt.provider, attempt.model):
                del self._attempts[i]
                _close_attempt(span, attempt.outcome)
                return

    def end(self, exchange: Exchange) -> None:
        if self._ended:
            return
        self._ended = True
        for _, _, span in self._attempts:
            _close_attempt(span, CUT_OFF)
        self._attempts.clear()
        span = self._span
        if span.is_recording():
            span.update_name(genai.server_name(exchange, self._operation))
            span.set_attributes(self._attributes(exchange))
            if exchange.status >= 500:
                span.set_status(StatusCode.ERROR)
        span.end()
        self._pipeline.ended()

    def _attributes(self, exchange: Exchange) -> genai.Attributes:
        found = genai.server_attributes(exchange, self._operation)
        capture = self._pipeline.telemetry.capture_content
        if self._operation == "chat" and exchange.answer and exchange.status < 400:
            found.update(genai.answer_attributes(exchange.wire, exchange.answer, capture))
        if capture and exchange.body:
            found.update(genai.request_attributes(exchange.body))
        redact = self._pipeline.redact
        for name in CONTENT:
            if isinstance(text := found.get(name), str):
                found[name] = redact(text)
        return found


def _close_attempt(span: Span, outcome: str) -> None:
    span.set_attribute("patchbay.outcome", outcome)
    if outcome != "ok":
        span.set_attribute("error.type", outcome)
        span.set_status(StatusCode.ERROR)
    span.end()
