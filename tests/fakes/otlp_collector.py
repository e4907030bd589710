"""A fake OpenTelemetry collector: POST /v1/traces in OTLP/HTTP protobuf, spans kept decoded.

Each exported span is kept as a `Span`: ids in hex, attributes (its own and its
resource's) as plain Python values, events with theirs, so that tests read them without
protobuf in the way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.fakes import FakeUpstream

SERVER, CLIENT = 2, 3  # Span.SpanKind in the protocol
STATUS_ERROR = 2


@dataclass
class Span:
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root span
    attributes: dict[str, Any]
    status: int
    resource: dict[str, Any]  # service.name, process.pid, ...
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in pairs}


class FakeCollector(FakeUpstream):
    """Answers every export with 200; `headers` holds each export's request headers."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[Span] = []

    def setup(self, app: web.Application) -> None:
        app.router.add_post("/v1/traces", self.traces)

    @property
    def endpoint(self) -> str:
        return f"{self.url}/v1/traces"

    async def traces(self, request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.read())
        for resource_spans in export.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend(_span(s, resource) for s in scope_spans.spans)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Span]:
        """The spans, once at least `count` have come (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while len(self.spans) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.spans)


def _span(span: Any, resource: dict[str, Any]) -> Span:
    return Span(
        name=span.name,
        kind=span.kind,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex(),
        attributes=_attributes(span.attributes),
        status=span.status.code,
        resource=resource,
        events=[(e.name, _attributes(e.attributes)) for e in span.events],
    )
