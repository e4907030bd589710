"""A fast fake OpenAI upstream for the benchmark: raw asyncio protocol on uvloop.

`POST /v1/chat/completions` answers a fixed ChatCompletion, or, when the body asks for
`"stream": true`, a fixed SSE stream of 20 chunks and `data: [DONE]`, each chunk sent
in its own write so a gateway sees a stream rather than one block. A stream whose body
asks for `"include_usage": true` is OpenAI's: `"usage": null` in every chunk and a
usage chunk before `[DONE]`. `GET /v1/models` lists `bench-model`. HTTP/1.1 keep-alive
and pipelining are supported; nothing else.

Run: python bench/upstream.py --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from typing import cast

import uvloop

MODEL = "bench-model"
WORDS = [f"word{i} " for i in range(20)]
TEXT = "".join(WORDS)
CREATED = 1_700_000_000
STREAM_FLAG = re.compile(rb'"stream"\s*:\s*true')
USAGE_FLAG = re.compile(rb'"include_usage"\s*:\s*true')
USAGE = {"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32}
HEAD_END = b"\r\n\r\n"


def _compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def completion_response() -> bytes:
    """The whole non-stream answer, status line to last byte."""
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": TEXT},
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }
    return _response("200 OK", "application/json", _compact(body))


def _chunk_event(index: int, usage: bool) -> bytes:
    delta: dict[str, str] = {"content": WORDS[index]}
    if index == 0:
        delta = {"role": "assistant", **delta}
    chunk: dict[str, object] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if index == 19 else None}],
    }
    if usage:
        chunk["usage"] = None
    return b"data: " + _compact(chunk) + b"\n\n"


def _usage_event() -> bytes:
    chunk = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "choices": [],
        "usage": USAGE,
    }
    return b"data: " + _compact(chunk) + b"\n\n"


def _http_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def stream_writes(usage: bool = False) -> list[bytes]:
    """The stream answer as the separate writes it is sent in: head, 20 events (and the
    usage event, when asked for), [DONE]."""
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    events = [_http_chunk(_chunk_event(i, usage)) for i in range(len(WORDS))]
    if usage:
        events.append(_http_chunk(_usage_event()))
    done = _http_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n"
    return [head, *events, done]


MODELS = _response(
    "200 OK",
    "application/json",
    _compact({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]}),
)
NOT_FOUND = _response("404 Not Found", "application/json", b'{"error":"not found"}')
BAD_REQUEST = _response("400 Bad Request", "application/json", b'{"error":"bad request"}')


class ChatUpstream(asyncio.Protocol):
    """One client connection: parse requests as bytes arrive, answer each in order."""

    def __init__(self, completion: bytes, stream: list[bytes], with_usage: list[bytes]) -> None:
        self._completion = completion
        self._stream = stream
        self._with_usage = with_usage
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None:
            try:
                request = _take_request(self._buffer)
            except ValueError:
                self._transport.write(BAD_REQUEST)
                self._transport.close()
                return
            if request is None:
                return
            self._answer(*request)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def _answer(self, head: bytes, body: bytes) -> None:
        assert self._transport is not None
        line = head.split(b"\r\n", 1)[0]
        if line.startswith(b"POST /v1/chat/completions "):
            if STREAM_FLAG.search(body):
                writes = self._with_usage if USAGE_FLAG.search(body) else self._stream
                for write in writes:
                    self._transport.write(write)
            else:
                self._transport.write(self._completion)
        elif line.startswith(b"GET /v1/models "):
            self._transport.write(MODELS)
        else:
            self._transport.write(NOT_FOUND)
        if b"\r\nconnection: close" in head.lower():
            self._transport.close()


def _take_request(buffer: bytearray) -> tuple[bytes, bytes] | None:
    """Remove one complete request (head, body) from `buffer`, or None if incomplete."""
    end = buffer.find(HEAD_END)
    if end < 0:
        return None
    head = bytes(buffer[:end])
    lowered = head.lower()
    start = end + len(HEAD_END)
    if b"\r\ntransfer-encoding: chunked" in lowered:
        return _take_chunked(buffer, head, start)
    match = re.search(rb"\r\ncontent-length:\s*(\d+)", lowered)
    length = int(match.group(1)) if match else 0
    if len(buffer) < start + length:
        return None
    body = bytes(buffer[start : start + length])
    del buffer[: start + length]
    return head, body


def _take_chunked(buffer: bytearray, head: bytes, start: int) -> tuple[bytes, bytes] | None:
    body = bytearray()
    pos = start
    while True:
        line_end = buffer.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buffer[pos:line_end]).split(b";")[0], 16)
        data_start = line_end + 2
        if len(buffer) < data_start + size + 2:
            return None
        if size == 0:
            # No trailers are expected: the body ends with an empty line.
            del buffer[: data_start + 2]
            return head, bytes(body)
        body += buffer[data_start : data_start + size]
        pos = data_start + size + 2


async def serve(host: str, port: int) -> None:
    """Serve until the process is stopped."""
    loop = asyncio.get_running_loop()
    completion, stream, with_usage = completion_response(), stream_writes(), stream_writes(True)
    server = await loop.create_server(
        lambda: ChatUpstream(completion, stream, with_usage),
        host,
        port,
        backlog=4096,
        reuse_address=True,
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
