"""Server-sent events: framing, block splitting and parsing, with no line-length limit."""

from __future__ import annotations

from collections.abc import Iterator

DONE = b"data: [DONE]\n\n"
DONE_MARKERS = (b"data: [DONE]", b"data:[DONE]")  # how a stream's last event begins


def frame(data: bytes) -> bytes:
    """One `data:` event carrying a JSON payload (JSON never contains a raw newline)."""
    return b"data: " + data + b"\n\n"


def payloads(framed: bytes) -> list[bytes]:
    """The `data:` payloads of framed events (for readers of a kind's stream)."""
    found = []
    for block in framed.split(b"\n\n"):
        if block.startswith(b"data: ") and b"\n" not in block:
            found.append(block[6:])  # the usual event: one data line, read without a split
        elif lines := _data_lines(block):
            found.append(b"\n".join(lines))
    return found


def _data_lines(block: bytes) -> list[bytes]:
    return [line[5:].removeprefix(b" ") for line in block.split(b"\n") if line.startswith(b"data:")]


class EventBlocks:
    """Cut a byte stream after its last complete SSE event, without parsing anything.

    Relaying the whole events of each upstream read keeps a stream to one client write
    per upstream read; CRLF line endings are normalised so events end in a blank line.
    """

    def __init__(self) -> None:
        self._pending: list[bytes] = []  # raw chunks of an event not yet complete
        self._size = 0
        self._tail = b""  # their last three bytes

    def feed(self, chunk: bytes) -> bytes:
        """The complete events buffered so far, each ending in a blank line (or b"").

        A chunk that ends no event is only kept: a long event costs its length once,
        not once per chunk (an upstream may send megabytes without a blank line).
        """
        if self._pending:
            probe = self._tail + chunk  # an event's end may span chunks
            if b"\n\n" not in probe and b"\n\r\n" not in probe:
                self._pending.append(chunk)
                self._size += len(chunk)
                self._tail = probe[-3:]
                return b""
            data = b"".join(self._pending) + chunk
        else:
            data = chunk
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        end = data.rfind(b"\n\n")
        rest = data if end < 0 else data[end + 2 :]
        self._pending = [rest] if rest else []
        self._size = len(rest)
        self._tail = rest[-3:]
        return b"" if end < 0 else data[: end + 2]

    @property
    def pending(self) -> int:
        """Bytes held of an event not yet complete."""
        return self._size

    def close(self) -> bytes:
        rest = b"".join(self._pending).replace(b"\r\n", b"\n").strip()
        self._pending, self._size, self._tail = [], 0, b""
        return rest + b"\n\n" if rest else b""


def blocks(events: bytes) -> list[bytes]:
    """Complete events -> their blocks, without the blank lines between them."""
    return [block for block in events.split(b"\n\n") if block]


def is_done(block: bytes) -> bool:
    return block.startswith(DONE_MARKERS)


def is_error(block: bytes) -> bool:
    """An OpenAI-style error sent as an event: `event: error`, or data that is an error object."""
    return block.startswith(b"event: error") or b'data: {"error"' in block[:64]


class EventParser:
    """Feed raw bytes, get (event, data) pairs; comments and `id`/`retry` fields are ignored."""

    def __init__(self) -> None:
        self._partial: list[bytes] = []  # a line not yet ended, in the chunks it came in
        self._event = ""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> Iterator[tuple[str, bytes]]:
        if b"\n" not in chunk:  # a long line costs its length once, not once per chunk
            self._partial.append(chunk)
            return
        lines = b"".join([*self._partial, chunk]).split(b"\n")
        tail = lines.pop()
        self._partial = [tail] if tail else []
        for line in lines:
            yield from self._line(line.rstrip(b"\r"))

    def close(self) -> Iterator[tuple[str, bytes]]:
        if self._partial:
            yield from self._line(b"".join(self._partial).rstrip(b"\r"))
            self._partial = []
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
