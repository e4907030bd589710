"""What an inbound wire format decides: how a client's errors, credentials and usage read.

A route's handler names its format (engine/handlers/__init__.py); the snapshot gives
each route its WireFormat, and the front door, the guard and the token counter ask it
instead of assuming OpenAI's shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from engine.errors import GatewayError
from engine.formats.usage import Usage


class WireFormat(Protocol):
    name: ClassVar[str]

    def error_body(self, err: GatewayError, message: str, type_: str) -> bytes:
        """The JSON body of an error answer (a routes.yaml template may set message and type)."""
        ...

    def error_event(self, err: GatewayError) -> bytes:
        """The framed SSE event that reports a failure after a stream has started."""
        ...

    def credential(self, headers: Mapping[str, str]) -> str | None:
        """The client key the request carries, in this format's header(s); None if none."""
        ...

    def missing_credential(self) -> str:
        """How a client of this format should send its key, for the 401's message."""
        ...

    def usage_tokens(self, payload: Mapping[str, Any]) -> int | None:
        """Tokens an answer (or one stream event's JSON) reports; None when it reports none."""
        ...

    def usage(self, payload: Mapping[str, Any]) -> Usage | None:
        """The billable counts an answer (or one stream event's JSON) reports; None if none."""
        ...

    def generated_chars(self, payload: Mapping[str, Any]) -> int:
        """Characters of generated text in one stream event's JSON (for estimates)."""
        ...
