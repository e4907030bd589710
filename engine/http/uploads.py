"""Upload bodies spooled to a temporary file as they arrive, never held whole in memory.

A route whose handler takes uploads (engine/handlers HandlerSpec `upload`) gets its
body here instead of in memory: refused by its declared Content-Length before a byte
is read, bounded while it is read, and kept on disk (so a retry can send it again)
until the answer has gone out.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

SPOOL_PREFIX = "patchbay-upload-"


class UploadTooLarge(Exception):
    """The body is (or declared itself) larger than the upload limit."""


class UploadAbandoned(Exception):
    """The client disconnected before its upload was read."""


class Spool:
    """One request's upload: `fill` it, read `path`, `discard` it when the answer is out."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.size = 0

    async def fill(
        self, receive: Receive, headers: Mapping[str, str], limit: int, drain: int
    ) -> None:
        """Read the body into a temporary file. Past `limit` the rest is read and dropped
        (up to `drain` bytes, so that a client that sends everything first sees the 413)."""
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise UploadTooLarge  # nothing read: the client said how much it would send
        handle, self.path = tempfile.mkstemp(prefix=SPOOL_PREFIX)
        with os.fdopen(handle, "wb") as file:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise UploadAbandoned
                chunk = message.get("body", b"")
                self.size += len(chunk)
                if self.size <= limit:
                    file.write(chunk)  # page cache: microseconds a chunk
                elif self.size > limit + drain:
                    raise UploadTooLarge
                if not message.get("more_body"):
                    break
        if self.size > limit:
            raise UploadTooLarge

    def discard(self) -> None:
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.path = None
