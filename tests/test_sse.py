"""SSE framing, cutting, parsing and relaying: no server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from engine.formats import OPENAI
from engine.formats.sse import EventBlocks, EventParser, blocks, is_done, is_error, payloads
from engine.providers.base import Provider


def test_event_blocks_cut_after_the_last_complete_event() -> None:
    cutter = EventBlocks()
    assert cutter.feed(b'data: {"a": 1}\n\ndata: {"b"') == b'data: {"a": 1}\n\n'
    assert cutter.feed(b": 2}\n\n") == b'data: {"b": 2}\n\n'
    assert cutter.feed(b"data: [DO") == b""
    assert cutter.close() == b"data: [DO\n\n"


def test_event_blocks_normalise_crlf() -> None:
    cutter = EventBlocks()
    assert cutter.feed(b"data: 1\r\n\r\ndata: 2\r\n\r\n") == b"data: 1\n\ndata: 2\n\n"


def test_blocks_payloads_and_markers() -> None:
    events = (
        b'data: {"x": 1}\n\n: keep-alive\n\nevent: error\ndata: {"error": {}}\n\ndata: [DONE]\n\n'
    )
    parts = blocks(events)
    assert len(parts) == 4
    assert payloads(events) == [b'{"x": 1}', b'{"error": {}}', b"[DONE]"]
    assert [is_error(p) for p in parts] == [False, False, True, False]
    assert [is_done(p) for p in parts] == [False, False, False, True]


def test_parser_handles_a_line_split_across_reads_of_any_size() -> None:
    parser = EventParser()
    big = b"x" * (3 << 20)
    assert list(parser.feed(b"event: delta\ndata: " + big[:1000])) == []
    assert list(parser.feed(big[1000:] + b"\n\n")) == [("delta", big)]


class _Reads:
    """An upstream answer's reads, for the openai relay: no server needed."""

    def __init__(self, *reads: bytes) -> None:
        self.reads = list(reads)
        self.finished = self.closed = False

    async def next_events(self) -> bytes:
        return self.reads.pop(0) if self.reads else b""

    async def finish(self) -> None:
        self.finished = True

    def close(self) -> None:
        self.closed = True


_PROVIDER = Provider("p", "openai", "active", "http://x", None, 1.0, {})


def test_openai_relay_cuts_at_done_in_either_spacing() -> None:
    from engine.providers.openai import relay_openai_stream

    provider = _PROVIDER
    for done in (b"data: [DONE]\n\n", b"data:[DONE]\n\n"):
        reads = _Reads(b'data: {"a":1}\n\n', b'data: {"b":2}\n\n' + done + b'data: {"late":1}\n\n')
        relay = relay_openai_stream(reads, provider)  # type: ignore[arg-type]
        out = asyncio.run(_collect(relay))
        # [DONE] goes out with the events read with it, in one spacing, and ends the relay.
        assert out == [b'data: {"a":1}\n\n', b'data: {"b":2}\n\ndata: [DONE]\n\n']
        assert reads.finished  # the rest of the body is read, for the connection's reuse
    cut_short = _Reads(b'data: {"a":1}\n\n')  # the upstream ended without [DONE]
    out = asyncio.run(_collect(relay_openai_stream(cut_short, provider)))  # type: ignore[arg-type]
    assert out == [b'data: {"a":1}\n\n', b"data: [DONE]\n\n"]
    assert cut_short.closed


def test_openai_relay_passes_done_quoted_inside_an_event() -> None:
    """A model may write `data: [DONE]` in its text: only an event of its own ends the
    stream, not the same bytes inside a JSON string."""
    from engine.providers.openai import relay_openai_stream

    quoted = b'data: {"content":"data: [DONE]"}\n\ndata: {"content":"data:[DONE]"}\n\n'
    reads = _Reads(quoted, b'data: {"d":1}\n\ndata: [DONE]\n\n')
    out = asyncio.run(_collect(relay_openai_stream(reads, _PROVIDER)))  # type: ignore[arg-type]
    assert out == [quoted, b'data: {"d":1}\n\ndata: [DONE]\n\n']


async def _collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


def test_the_item_with_done_ends_the_body_in_the_same_message() -> None:
    """The front door ends the body with the item that carries `[DONE]` (a kind's last):
    no empty message of its own after it, and nothing read from the kind past it."""
    from engine.front import _relay
    from engine.http.messages import Stream

    read_past_done = []

    async def events() -> AsyncIterator[bytes]:
        yield b"data: 2\n\n"
        yield b"data: 3\n\ndata: [DONE]\n\n"
        read_past_done.append(True)
        yield b"data: 4\n\n"

    async def relayed(head: bytes) -> list[tuple[bytes, bool]]:
        sent: list[tuple[bytes, bool]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append((message["body"], message.get("more_body", False)))

        await _relay(send, Stream(head, events()), OPENAI, "request-1")
        return sent

    assert asyncio.run(relayed(b"data: 1\n\n")) == [
        (b"data: 1\n\n", True),
        (b"data: 2\n\n", True),
        (b"data: 3\n\ndata: [DONE]\n\n", False),
    ]
    assert not read_past_done
    whole = b"data: 1\n\ndata: [DONE]\n\n"  # the whole stream came with the first read
    assert asyncio.run(relayed(whole)) == [(whole, False)]
