"""What an answer consumed, read in its wire format: from a JSON body, or from a stream
as it passes (its usage event; without one, an estimate).

The estimate is about four bytes of request and four characters of streamed text per
token. A stream's events are only parsed when one carries a usage object, or at the
end when none did, so reading a stream that reports its usage costs two byte searches
per event.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

from engine.formats.base import WireFormat
from engine.formats.sse import payloads
from engine.formats.usage import Usage

BYTES_PER_TOKEN = 4  # rough English-text ratio, used only when no usage is reported
HELD_BYTES = 1024 * 1024  # events held for an estimate before they are read on the spot


class AnswerUsage:
    """What a JSON answer reports, read once; an answer that is not a JSON object
    reports nothing."""

    __slots__ = ("data", "wire")

    def __init__(self, data: dict[str, Any], wire: WireFormat) -> None:
        self.data = data
        self.wire = wire

    @classmethod
    def of(cls, body: bytes, wire: WireFormat) -> AnswerUsage:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        return cls(data if isinstance(data, dict) else {}, wire)

    @property
    def usage(self) -> Usage | None:
        """The billable counts; None when the answer reports none."""
        return self.wire.usage(self.data)

    @property
    def tokens(self) -> int:
        """The tokens rate limits count (0 for answers without usage, e.g. images)."""
        return self.wire.usage_tokens(self.data) or 0


USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')


def usage_at(framed: bytes, start: int = 0) -> int:
    """Where a usage object (not `"usage": null`) is named in `framed`, or -1."""
    found = USAGE_OBJECT.search(framed, start)
    return found.start() if found is not None else -1


def event_around(framed: bytes, at: int) -> tuple[int, int]:
    """Start and end (past its blank line) of the whole event that holds offset `at`."""
    before = framed.rfind(b"\n\n", 0, at)
    end = framed.find(b"\n\n", at)
    return (before + 2 if before >= 0 else 0), (end + 2 if end >= 0 else len(framed))


class StreamTally:
    """The usage of a streamed answer: its usage event when one passes, else an estimate."""

    def __init__(self, request_body: bytes, wire: WireFormat) -> None:
        self.wire = wire
        self.prompt_estimate = math.ceil(len(request_body) / BYTES_PER_TOKEN)
        self.text_chars = 0
        self.usage: Usage | None = None  # as reported
        self._reported: dict[str, Any] | None = None  # the event that reported it
        self._held: list[bytes] = []
        self._held_bytes = 0

    def see(self, framed: bytes) -> None:
        """Read one or more whole SSE events: only those that carry usage are parsed."""
        at = usage_at(framed)
        if at >= 0:
            while at >= 0:
                start, end = event_around(framed, at)
                self._read(framed[start:end])
                at = usage_at(framed, end)
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
        usage = self.wire.usage(chunk)
        if usage is not None:
            self.usage, self._reported = usage, chunk
            return
        self.text_chars += self.wire.generated_chars(chunk)

    @property
    def reported(self) -> int | None:
        """The tokens the usage event reports, as rate limits count them."""
        return None if self._reported is None else self.wire.usage_tokens(self._reported)

    @property
    def tokens(self) -> int:
        reported = self.reported
        return reported if reported is not None else self.estimate().tokens

    def estimate(self) -> Usage:
        """Input and output tokens guessed from sizes (for a stream that reported none)."""
        if self._held:
            self._fold()
        return Usage(
            input_tokens=self.prompt_estimate,
            output_tokens=math.ceil(self.text_chars / BYTES_PER_TOKEN),
        )
