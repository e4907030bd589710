"""multipart/form-data read from a spooled body without loading it, and re-sent.

`read_form` finds the parts of a body kept in a file: it scans for the boundary a
window at a time, reads each part's headers and the values of text fields (small),
and only notes where a file's bytes lie. `Form.encode` sends the same parts again,
streaming from the file, with chosen text fields replaced (the upstream's `model`).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from engine.errors import InvalidRequest

WINDOW = 1 << 20  # bytes scanned for boundaries at a time
CHUNK = 1 << 16  # bytes sent upstream at a time
MAX_PARTS = 64
MAX_HEADERS = 16 * 1024  # a part's header block
MAX_FIELD = 64 * 1024  # a text field's value
BOUNDARY = re.compile(r'boundary=(?:"([^"]{1,200})"|([^\s;,]{1,200}))', re.IGNORECASE)
DISPOSITION = re.compile(r'\b(name|filename)="((?:[^"\\]|\\.)*)"|\b(name|filename)=([^\s;]+)')


@dataclass(frozen=True, slots=True)
class Part:
    """One part: its headers run from `start` to `data`, its bytes from `data` to `end`."""

    name: str
    filename: str | None
    content_type: str | None
    start: int
    data: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.data


@dataclass(frozen=True, slots=True)
class Form:
    """A multipart body in `path`: its parts in order and the values of its text fields
    (a name sent more than once, as `timestamp_granularities[]`, keeps every value)."""

    path: str
    boundary: bytes
    parts: tuple[Part, ...]
    fields: Mapping[str, tuple[str, ...]]

    def value(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else None

    def file(self, name: str) -> Part | None:
        return next((p for p in self.parts if p.name == name and p.filename is not None), None)

    def read(self, part: Part, offset: int = 0, size: int = CHUNK) -> bytes:
        """Up to `size` bytes of a part's data from `offset` (a small, bounded read)."""
        start = part.data + max(0, offset)
        with open(self.path, "rb") as body:
            body.seek(start)
            return body.read(max(0, min(size, part.end - start)))

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary.decode('latin-1')}"

    def length(self, replace: Mapping[str, str]) -> int:
        """The byte length of `encode(replace)`: sent as Content-Length, not chunked."""
        size = len(self.boundary) + 6  # the closing delimiter
        size += sum(len(self._added(name, value)) for name, value in self._missing(replace))
        for part in self.parts:
            value = replace.get(part.name) if part.filename is None else None
            data = len(value.encode()) if value is not None else part.size
            size += len(self.boundary) + 4 + (part.data - part.start) + data + 2
        return size

    async def encode(self, replace: Mapping[str, str]) -> AsyncIterator[bytes]:
        """The parts again, text fields named in `replace` with their new value (added at
        the end when the form has none); file bytes stream from the spooled body a CHUNK
        at a time."""
        delimiter = b"--" + self.boundary + b"\r\n"
        with open(self.path, "rb") as body:
            for part in self.parts:
                body.seek(part.start)
                head = delimiter + body.read(part.data - part.start)
                value = replace.get(part.name) if part.filename is None else None
                if value is not None:
                    yield head + value.encode() + b"\r\n"
                    continue
                yield head
                left = part.size
                while left > 0:
                    chunk = body.read(min(CHUNK, left))
                    if not chunk:
                        break
                    left -= len(chunk)
                    yield chunk
                yield b"\r\n"
        for name, value in self._missing(replace):
            yield self._added(name, value)
        yield b"--" + self.boundary + b"--\r\n"

    def _missing(self, replace: Mapping[str, str]) -> list[tuple[str, str]]:
        """The fields to replace that the form lacks: they are added at its end."""
        return [(k, v) for k, v in replace.items() if k not in self.fields]

    def _added(self, name: str, value: str) -> bytes:
        head = (
            f'--{self.boundary.decode("latin-1")}\r\nContent-Disposition: form-data; name="{name}"'
        )
        return head.encode() + b"\r\n\r\n" + value.encode() + b"\r\n"


def boundary_of(content_type: str) -> bytes:
    """The boundary a multipart/form-data Content-Type names; anything else is a 400."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise _bad("The request body must be multipart/form-data.")
    found = BOUNDARY.search(content_type)
    if found is None:
        raise _bad("The multipart/form-data Content-Type names no boundary.")
    return (found.group(1) or found.group(2)).encode("latin-1")


def read_form(path: str, content_type: str) -> Form:
    """The form in the body spooled at `path`; a malformed body is a 400."""
    boundary = boundary_of(content_type)
    with open(path, "rb") as body:
        bounds = _part_bounds(body, boundary)
        parts = tuple(_part(body, start, end) for start, end in bounds)
        fields: dict[str, tuple[str, ...]] = {}
        for part in parts:
            if part.filename is None:
                fields[part.name] = (*fields.get(part.name, ()), _text(body, part))
    return Form(path, boundary, parts, fields)


def _part_bounds(body: BinaryIO, boundary: bytes) -> list[tuple[int, int]]:
    """(start, end) of each part: after its delimiter line, up to the next CRLF--boundary."""
    marks = _delimiters(body, b"\r\n--" + boundary)
    body.seek(0)
    if body.read(len(boundary) + 2) == b"--" + boundary:
        marks.insert(0, -2)  # the first delimiter opens the body, with no CRLF before it
    bounds: list[tuple[int, int]] = []
    for index, here in enumerate(marks):
        line_end = here + 4 + len(boundary)
        body.seek(line_end)
        after = body.read(2 + 256)
        if after.startswith(b"--"):
            return bounds  # the closing delimiter: the rest is epilogue
        newline = after.find(b"\r\n")
        if newline < 0 or after[:newline].strip(b" \t") or index + 1 == len(marks):
            break
        bounds.append((line_end + newline + 2, marks[index + 1]))
        if len(bounds) > MAX_PARTS:
            raise _bad(f"The multipart body has more than {MAX_PARTS} parts.")
    raise _bad("The multipart body is truncated or malformed: no closing boundary ends it.")


def _delimiters(body: BinaryIO, marker: bytes) -> list[int]:
    """Every offset of `marker` in the body, scanning a WINDOW at a time."""
    found: list[int] = []
    offset, carry = 0, b""
    body.seek(0)
    while window := body.read(WINDOW):
        data = carry + window
        base = offset - len(carry)
        at = data.find(marker)
        while at >= 0:
            found.append(base + at)
            if len(found) > MAX_PARTS + 1:
                raise _bad(f"The multipart body has more than {MAX_PARTS} parts.")
            at = data.find(marker, at + len(marker))
        carry = data[-(len(marker) - 1) :]
        offset += len(window)
    return sorted(set(found))


def _part(body: BinaryIO, start: int, end: int) -> Part:
    body.seek(start)
    block = body.read(min(MAX_HEADERS, end - start))
    split = block.find(b"\r\n\r\n")
    if split < 0:
        raise _bad("A multipart part has no end to its headers.")
    headers = _headers(block[:split])
    disposition = headers.get("content-disposition", "")
    if not disposition.lower().startswith("form-data"):
        raise _bad("A multipart part lacks Content-Disposition: form-data.")
    params = {}
    for m in DISPOSITION.finditer(disposition):
        key, value = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        params[key.lower()] = value.replace('\\"', '"')
    if not params.get("name"):
        raise _bad("A multipart part has no name.")
    filename = params.get("filename")
    content_type = headers.get("content-type")
    return Part(params["name"], filename, content_type, start, start + split + 4, end)


def _headers(block: bytes) -> dict[str, str]:
    headers = {}
    for line in block.decode("utf-8", "replace").split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon:
            raise _bad("A multipart part has a malformed header line.")
        headers[name.strip().lower()] = value.strip()
    return headers


def _text(body: BinaryIO, part: Part) -> str:
    if part.size > MAX_FIELD:
        raise _bad(f"The field '{part.name}' is longer than {MAX_FIELD} bytes.", part.name)
    body.seek(part.data)
    try:
        return body.read(part.size).decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(f"The field '{part.name}' is not UTF-8 text.", part.name) from None


def _bad(message: str, param: str | None = None) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_multipart")
