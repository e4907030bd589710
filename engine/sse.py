"""Server-sent events: an incremental parser with no line-length limit, and the framing."""

from __future__ import annotations

from collections.abc import Iterator

from engine.errors import GatewayError, error_body

DONE = b"data: [DONE]\n\n"


def frame(data: bytes) -> bytes:
    """One `data:` event carrying a JSON payload (JSON never contains a raw newline)."""
    return b"data: " + data + b"\n\n"


def error_event(err: GatewayError) -> bytes:
    """The event that reports a failure after the stream has started."""
    return frame(error_body(err))


class EventParser:
    """Feed raw bytes, get (event, data) pairs; comments and `id`/`retry` fields are ignored."""

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> Iterator[tuple[str, bytes]]:
        self._buffer += chunk
        lines = self._buffer.split(b"\n")
        self._buffer = lines.pop()
        for line in lines:
            yield from self._line(line.rstrip(b"\r"))

    def close(self) -> Iterator[tuple[str, bytes]]:
        if self._buffer:
            yield from self._line(self._buffer.rstrip(b"\r"))
            self._buffer = b""
        yield from self._line(b"")

    def _line(self, line: bytes) -> Iterator[tuple[str, bytes]]:
        if not line:
            if self._data:
                yield self._event or "message", b"\n".join(self._data)
            self._event, self._data = "", []
            return
        if line.startswith(b":"):
            return
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
