"""What an answer consumed, read in its wire format: from a JSON body, or from a stream
as it passes (its usage event; without one, an estimate).

The estimate is about four bytes of request and four characters of streamed text per
token. A stream's events are only parsed when one may carry usage, or at the end when
none did, so reading a stream that reports its usage costs a byte search per event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import orjson

from engine.formats.base import WireFormat
from engine.formats.sse import payloads
from engine.formats.usage import Usage

BYTES_PER_TOKEN = 4  # rough English-text ratio, used only when no usage is reported
HELD_BYTES = 1024 * 1024  # events held for an estimate before they are read on the spot


@dataclass(frozen=True, slots=True)
class AnswerUsage:
    """A JSON answer's usage: billable counts (None when it reports none) and tokens."""

    usage: Usage | None
    tokens: int


def answer_usage(body: bytes, wire: WireFormat) -> AnswerUsage:
    """What a JSON answer reports; nothing for answers without usage (or not JSON)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return AnswerUsage(None, 0)
    if not isinstance(data, dict):
        return AnswerUsage(None, 0)
    return AnswerUsage(wire.usage(data), wire.usage_tokens(data) or 0)


class StreamTally:
    """The usage of a streamed answer: its usage event when one passes, else an estimate."""

    def __init__(self, request_body: bytes, wire: WireFormat) -> None:
        self.wire = wire
        self.prompt_estimate = math.ceil(len(request_body) / BYTES_PER_TOKEN)
        self.text_chars = 0
        self.reported: int | None = None
        self.usage: Usage | None = None  # as reported
        self._held: list[bytes] = []
        self._held_bytes = 0

    def see(self, framed: bytes) -> None:
        """Read what the client is sent: one or more whole SSE events."""
        if b'"usage"' in framed:
            self._read(framed)
            return
        self._held.append(framed)
        self._held_bytes += len(framed)
        if self._held_bytes > HELD_BYTES:
            self._fold()

    def _fold(self) -> None:
        """Count the text of the events held so far (only needed for an estimate)."""
        held, self._held, self._held_bytes = self._held, [], 0
        for framed in held:
            self._read(framed)

    def _read(self, framed: bytes) -> None:
        for payload in payloads(framed):
            if payload.startswith(b"{"):
                self._chunk(payload)

    def _chunk(self, payload: bytes) -> None:
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(chunk, dict):
            return
        reported = self.wire.usage_tokens(chunk)
        if reported is not None:
            self.reported = reported
            self.usage = self.wire.usage(chunk)
            return
        self.text_chars += self.wire.generated_chars(chunk)

    @property
    def tokens(self) -> int:
        if self.reported is not None:
            return self.reported
        return self.estimate().tokens

    def estimate(self) -> Usage:
        """Input and output tokens guessed from sizes (for a stream that reported none)."""
        if self._held:
            self._fold()
        return Usage(
            input_tokens=self.prompt_estimate,
            output_tokens=math.ceil(self.text_chars / BYTES_PER_TOKEN),
        )
