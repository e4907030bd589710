"""The request and response values handlers see; no framework types cross this line.

`Services` is what a handler may use of the worker that runs it. The runtime provides
it; this module names only the parts, so nothing here depends on the runtime.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

import orjson

from engine.config.settings import ClientKey
from engine.errors import GatewayError, InvalidRequest
from engine.http.deadlines import Deadlines
from engine.observe.exchange import Exchange
from engine.observe.metrics import Metrics
from engine.snapshot.model import Snapshot, Target
from engine.stores.shared import SharedState
from engine.stores.traffic import Traffic
from engine.upstream.client import Upstream


class LiveConfig(Protocol):
    """What handlers may ask of live reconfiguration (engine/live answers)."""

    @property
    def snapshot(self) -> Snapshot:
        """The snapshot serving now (a request keeps the one it started with)."""
        ...

    @property
    def environ(self) -> Mapping[str, str]:
        """The variables `${VAR}` references were resolved against."""
        ...

    def status(self) -> dict[str, Any]:
        """The reloader's last word for /admin/config (never a secret)."""
        ...

    async def reload(self) -> str:
        """Re-read the files now; the outcome: applied, unchanged or rejected."""
        ...

    def reload_counts(self) -> Mapping[str, int]: ...

    def reload_history(self) -> list[dict[str, Any]]:
        """The last applied and rejected reloads, oldest first: `at`, `result`,
        `config_hash`, and `changes` or `problems` with secrets masked."""
        ...

    def discovery_error(self, provider: str) -> str | None:
        """Why `models: discover` last failed for `provider`, if it did."""
        ...


class Allowance(Protocol):
    """What a client key may still spend, as the guard found it at admission (engine/spend)."""

    def refuses(self, target: Target) -> GatewayError | None:
        """The error for `target` when a spent budget covers it (only a priced model's)."""
        ...


class Services(Protocol):
    """The long-lived parts of one worker that handlers and dispatch use."""

    @property
    def upstream(self) -> Upstream: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def deadlines(self) -> Deadlines: ...
    @property
    def state(self) -> SharedState: ...
    @property
    def traffic(self) -> Traffic: ...
    @property
    def live(self) -> LiveConfig: ...


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
    services: Services
    request_id: str
    exchange: Exchange  # what the metrics, the access log and the trace read of it
    client: ClientKey | None = None  # the authenticated client key, set once by the guard
    allowance: Allowance | None = None  # the key's budgets, set by the guard when it has some
    upload: str | None = None  # the spooled body's file (`body` is then empty): uploads
    args: Mapping[str, Any] = field(default_factory=dict)  # the route's fixed `with:` arguments

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
    notes: dict[str, str] = field(default_factory=dict)  # extra access-log fields, e.g. cost

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(orjson.dumps(data), status, headers or {})


@dataclass(slots=True)
class Stream:
    """A server-sent event stream: `head` (already received), then `events`.

    A GatewayError raised by `events` is sent as an error event and ends the stream.
    `edit`, when set, is applied to the head and each item as the front door sends it,
    after the guard has read them: a handler keeps from the client what it asked for
    on the client's behalf (a usage chunk), and the guard still charges it.
    A `raw` stream (audio, say) is relayed byte for byte: no `[DONE]` is looked for,
    and a failure after its first byte can only cut it short.
    """

    head: bytes
    events: AsyncIterator[bytes]
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    content_type: str = "text/event-stream"
    edit: Callable[[bytes], bytes] | None = None
    notes: dict[str, str] = field(default_factory=dict)  # extra access-log fields, e.g. cost
    raw: bool = False


Handler = Callable[[Request], Awaitable[Response | Stream]]
