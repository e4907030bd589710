"""Upstream flow control: a stream the relay reads slower than it arrives still arrives
whole, whether its bytes come in big chunks, tiny chunks or gzip-compressed."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from engine.upstream.client import ConnectionProtocol, Upstream, UpstreamResponse

pytestmark = pytest.mark.anyio


def _events(count: int, size: int) -> list[bytes]:
    """`count` SSE events whose data lines are `size` bytes, each distinct."""
    return [b"data: " + str(n).encode().ljust(size, b"x") + b"\n\n" for n in range(count)]


async def _serve(events: list[bytes], *, gzipped: bool) -> TestServer:
    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        packer = zlib.compressobj(wbits=31) if gzipped else None
        if packer is not None:
            response.headers["Content-Encoding"] = "gzip"
        await response.prepare(request)
        for event in events:
            await response.write(packer.compress(event) if packer else event)
        if packer is not None:
            await response.write(packer.flush())
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", stream)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def _read_slowly(answer: UpstreamResponse) -> bytes:
    """Everything, read so slowly that the upstream gets ahead and reading pauses."""
    got = []
    await asyncio.sleep(0.1)
    while events := await answer.next_events():
        got.append(events)
        await asyncio.sleep(0.001)
    return b"".join(got)


@asynccontextmanager
async def _answer(
    upstream: Upstream, events: list[bytes], *, gzipped: bool
) -> AsyncIterator[UpstreamResponse]:
    """An upstream answer streaming `events`, its headers read, its body not yet."""
    server = await _serve(events, gzipped=gzipped)
    try:
        url = str(server.make_url("/v1/chat/completions"))
        yield await upstream.open("POST", url, provider="p", headers={}, body=b"{}", timeout=5)
    finally:
        await server.close()


async def _relay(upstream: Upstream, events: list[bytes], *, gzipped: bool = False) -> bytes:
    async with _answer(upstream, events, gzipped=gzipped) as answer:
        async with asyncio.timeout(30):  # a reader that is never resumed would hang here
            return await _read_slowly(answer)


async def test_big_chunks_far_past_the_read_buffer_arrive_whole(upstream: Upstream) -> None:
    events = _events(96, 64 * 1024)  # 6 MiB in 64 KiB chunks: reading pauses and resumes
    assert await _relay(upstream, events) == b"".join(events)


async def test_many_tiny_chunks_arrive_whole(upstream: Upstream) -> None:
    events = _events(20_000, 8)  # more chunks than the reader buffers before pausing
    assert await _relay(upstream, events) == b"".join(events)


async def test_a_gzipped_stream_arrives_whole(upstream: Upstream) -> None:
    events = _events(512, 16 * 1024)  # 8 MiB that compress to little: inflation pauses
    body = await _relay(upstream, events, gzipped=True)
    assert body == b"".join(events)
    assert len(gzip.compress(body)) < len(body) // 50


async def test_upstream_connections_use_patchbays_protocol(upstream: Upstream) -> None:
    """The connector's protocol factory is aiohttp's private attribute: should a new
    aiohttp stop using it, this says so (the relay would still work, only slower)."""
    async with _answer(upstream, _events(96, 64 * 1024), gzipped=False) as answer:
        connection = answer._resp.connection  # still being read: not yet released
        assert connection is not None
        assert isinstance(connection.protocol, ConnectionProtocol)
        answer.close()
