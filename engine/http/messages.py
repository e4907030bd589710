"""The request and response values handlers see; no framework types cross this line."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from engine.errors import InvalidRequest

if TYPE_CHECKING:
    from engine.runtime import Runtime
    from engine.snapshot.model import Snapshot


@dataclass(slots=True)
class Request:
    """One client request, bound to the snapshot it started with."""

    method: str
    path: str
    query_string: bytes
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    params: Mapping[str, str]
    snapshot: Snapshot
    runtime: Runtime
    request_id: str
    client_key: str | None = None  # name of the authenticated client key, if any

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; anything else is a 400."""
        try:
            data = orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(
                f"The request body is not valid JSON: {exc}.", code="invalid_json"
            ) from None
        if not isinstance(data, dict):
            raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
        return data

    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.query_string.decode("latin-1")))


@dataclass(slots=True)
class Response:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(orjson.dumps(data), status, headers or {})


@dataclass(slots=True)
class Stream:
    """A server-sent event stream: `head` (already received), then `events`.

    A GatewayError raised by `events` is sent as an error event and ends the stream.
    """

    head: bytes
    events: AsyncIterator[bytes]
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    content_type: str = "text/event-stream"


Handler = Callable[[Request], Awaitable[Response | Stream]]
