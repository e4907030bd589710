"""Relaying an upstream's own Messages stream to a Messages client, untranslated.

Events pass through as they came, one write per upstream read, with two exceptions:
an `error` event becomes the mapped GatewayError (the front door sends it in the
route's format), and `message_delta` gets the input counts of `message_start` when it
lacks them, so that every Messages stream Patchbay sends ends with its totals (what
rate limits and clients read).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import orjson

from engine.errors import GatewayError, UpstreamFailed
from engine.formats.anthropic import USAGE_COUNTS, event
from engine.formats.sse import blocks, payloads
from engine.upstream.client import UpstreamResponse

# Whole events whose name starts so need a look; the rest (every delta) pass as bytes.
NOTABLE = (b"event: message_", b"event: error")

ErrorMapper = Callable[[Mapping[str, Any]], GatewayError]


class MessagesRelay:
    """One stream's state: the counts `message_start` gave, whether it ended well."""

    def __init__(self, provider: str, on_error: ErrorMapper) -> None:
        self.provider = provider
        self.on_error = on_error
        self.started: dict[str, Any] = {}
        self.done = False
        self.failure: GatewayError | None = None  # an `error` event: what to raise

    def events(self, raw: bytes) -> bytes:
        """Whole upstream events -> the events to send, up to an `error` event if any."""
        if not any(marker in raw for marker in NOTABLE):
            return raw
        out = []
        for block in blocks(raw):
            out.append(self._event(block))
            if self.failure is not None or self.done:
                break
        return b"".join(out)

    def _event(self, block: bytes) -> bytes:
        framed = block + b"\n\n"
        if not block.startswith(NOTABLE):
            return framed
        data = self._data(block)
        kind = data.get("type")
        if kind == "error":
            self.failure = self.on_error(data)
            return b""
        if kind == "message_start":
            usage = (data.get("message") or {}).get("usage")
            self.started = dict(usage) if isinstance(usage, dict) else {}
        elif kind == "message_delta":
            return self._with_totals(data) or framed
        elif kind == "message_stop":
            self.done = True
        return framed

    def _data(self, block: bytes) -> dict[str, Any]:
        found = payloads(block + b"\n\n")
        try:
            data = orjson.loads(found[0]) if found else None
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise UpstreamFailed(
                f"Provider '{self.provider}' sent a stream event we cannot read: "
                f"{block[:200].decode('utf-8', 'replace')}"
            )
        return data

    def _with_totals(self, data: dict[str, Any]) -> bytes | None:
        """The message_delta re-framed with the start's counts it lacks; None if complete."""
        given = data.get("usage")
        usage: dict[str, Any] = given if isinstance(given, dict) else {}
        missing = {
            k: self.started[k]
            for k in USAGE_COUNTS
            if k != "output_tokens" and usage.get(k) is None and k in self.started
        }
        if not missing:
            return None
        return event("message_delta", {**data, "usage": {**usage, **missing}})


async def relay_messages(resp: UpstreamResponse, relay: MessagesRelay) -> AsyncIterator[bytes]:
    """The upstream's events for the client; a stream cut before message_stop fails."""
    try:
        while raw := await resp.next_events():
            out = relay.events(raw)
            if relay.failure is not None:
                if out:
                    yield out
                raise relay.failure
            if relay.done:
                await resp.finish()  # first: a client that saw message_stop may hang up
                yield out
                return
            if out:
                yield out
    finally:
        resp.close()  # at once when the client stops reading mid-stream
    raise UpstreamFailed(f"Provider '{relay.provider}' ended its stream before message_stop.")
