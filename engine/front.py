"""The front door: plain ASGI for every route in routes.yaml, the Quart app for the rest.

The API surface is served here without framework layers (it is the hot path); pages
and anything no route matches fall through to the Quart app underneath.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from engine.errors import (
    GatewayError,
    InternalError,
    RequestTimedOut,
    RequestTooLarge,
    ShuttingDown,
    UpstreamTimeout,
)
from engine.formats import WireFormat
from engine.formats.sse import DONE
from engine.http.cors import cors_gate
from engine.http.deadlines import DeadlinePassed
from engine.http.disconnect import DisconnectWatch
from engine.http.messages import Request, Response, Stream
from engine.http.rendering import render_error
from engine.http.uploads import Spool, UploadAbandoned, UploadTooLarge
from engine.observe.access import log as access_log
from engine.observe.access import write_access
from engine.observe.exchange import Exchange
from engine.runtime import Runtime
from engine.snapshot.model import RouteMatch, Snapshot

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("patchbay")


REQUEST_ID_KEY = "patchbay.request_id"  # where the fallback app finds the request id
DRAIN_LIMIT = 32 * 1024 * 1024  # bytes of an oversized body read and dropped before the 413
CLIENT_CLOSED_REQUEST = 499  # logged and counted (as nginx does) for a client that hung up
# A client's X-Request-ID is kept when it is this (it is logged and sent upstream).
REQUEST_ID = re.compile(r"[A-Za-z0-9._:@+=/-]{1,128}")


class BodyTooLarge(Exception):
    """Internal signal: the body passed max_request_size while being read."""


class ClientGone(Exception):
    """Internal signal: the client disconnected before its request was read."""


class Front:
    """ASGI callable that dispatches on the live snapshot's RouteTable."""

    def __init__(self, runtime: Runtime, fallback: ASGIApp) -> None:
        self.runtime = runtime
        self.fallback = fallback
        self._ids = random.Random()  # request ids need to be unique, not unguessable

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        snapshot = self.runtime.snapshot  # read once: this request lives on this snapshot
        method: str = scope["method"]
        path: str = scope["path"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = self._request_id(headers)
        started = time.perf_counter()
        if snapshot.settings.cors_origins:  # CORS costs nothing unless it is configured
            send, preflight = cors_gate(scope, send, snapshot.settings.cors_origins)
            if preflight is not None:
                await self._send(send, preflight, request_id, method)
                return
        try:
            found = snapshot.routes.match(path, method)
        except GatewayError as err:
            await self._send(send, render_error(err, snapshot), request_id, method)
            return
        if found is None:
            scope[REQUEST_ID_KEY] = request_id
            await self.fallback(scope, receive, _with_request_id(send, request_id))
            return
        watch = DisconnectWatch(receive)
        task = self.runtime.drain.enter()
        ex = Exchange(request_id, found.route.path, method, found.route.wire.name, started)
        if self.runtime.tracing.on:  # else nothing of OpenTelemetry runs for this request
            ex.trace = self.runtime.tracing.begin(ex, headers, found.route.handler)
        # An upload is spooled to a file, not read into memory; it goes once answered.
        spool = Spool() if found.route.handler in self.runtime.uploads else None
        try:
            reply = await self._answer(scope, receive, found, headers, ex, snapshot, watch, spool)
            if isinstance(reply, Stream):
                wire = found.route.wire
                await self._stream(send, reply, ex, watch, wire, snapshot.redact)
            else:
                watch.close()
                if reply is not None:  # None: the client hung up before its answer was ready
                    await self._send(send, reply, request_id, method)
        finally:
            self.runtime.drain.leave(task)
            if spool is not None:
                spool.discard()
        ended = time.perf_counter()
        ex.status = CLIENT_CLOSED_REQUEST if reply is None else reply.status
        ex.disconnected = ex.disconnected or reply is None
        self.runtime.metrics.record(ex, ended)
        if ex.trace is not None:
            if isinstance(reply, Response):
                ex.answer = reply.body
            ex.trace.end(ex)
        if snapshot.settings.request_logging and access_log.isEnabledFor(logging.INFO):
            write_access(ex, path, ended - started, reply.notes if reply else {})

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        found: RouteMatch,
        headers: Mapping[str, str],
        ex: Exchange,
        snapshot: Snapshot,
        watch: DisconnectWatch,
        spool: Spool | None = None,
    ) -> Response | Stream | None:
        """The handler's answer or the error's; None when the client hung up first."""
        settings = snapshot.settings
        wire = found.route.wire
        req: Request | None = None
        try:
            # request_timeout runs from arrival: a body that stops coming is bounded too.
            with self.runtime.deadlines.within(settings.request_timeout):
                if spool is None:
                    body = await _read_body(scope, receive, settings.max_request_size)
                else:
                    body = b""
                    await spool.fill(receive, headers, settings.max_upload_size, DRAIN_LIMIT)
                watch.arm()
                if ex.trace is not None:
                    ex.body = body
                req = Request(
                    scope["method"],
                    scope["path"],
                    scope.get("query_string", b""),
                    headers,
                    body,
                    found.params,
                    snapshot,
                    self.runtime,
                    ex.request_id,
                    ex,
                    upload=spool.path if spool is not None else None,
                    args=found.route.args,
                )
                handler = self.runtime.handlers[found.route.handler]
                # Client key and rate limits are applied around the handler.
                return await self.runtime.guard.run(req, found.route, handler, _peer(scope))
        except (ClientGone, UploadAbandoned):
            return None
        except asyncio.CancelledError:
            if watch.hung_up():
                return None
            if self.runtime.drain.ended():
                return render_error(_shutting_down(), snapshot)
            raise  # a real cancellation
        except BodyTooLarge:
            limit = settings.max_request_size
            too_large = RequestTooLarge(f"The request body exceeds {limit} bytes.")
            return render_error(too_large, snapshot, wire)
        except UploadTooLarge:
            limit = settings.max_upload_size
            too_large = RequestTooLarge(f"The upload exceeds max_upload_size ({limit} bytes).")
            return render_error(too_large, snapshot, wire)
        except DeadlinePassed:
            return render_error(_timed_out(settings.request_timeout, req is None), snapshot, wire)
        except GatewayError as err:
            return render_error(err, snapshot, wire)
        except Exception:
            log.exception(
                "internal error answering %s %s id=%s",
                scope["method"],
                scope["path"],
                ex.request_id,
            )
            return render_error(InternalError.for_request(ex.request_id), snapshot, wire)

    def _request_id(self, headers: Mapping[str, str]) -> str:
        """The client's own X-Request-ID when it is 1 to 128 safe characters (it goes
        into logs and upstream headers), else 128 random bits in hex."""
        given = headers.get("x-request-id", "")
        if REQUEST_ID.fullmatch(given):
            return given
        return f"{self._ids.getrandbits(128):032x}"

    async def _send(self, send: Send, reply: Response, request_id: str, method: str) -> None:
        headers = [
            (b"content-type", reply.content_type.encode()),
            (b"content-length", str(len(reply.body)).encode()),
            (b"x-request-id", request_id.encode()),
        ]
        headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        body = b"" if method == "HEAD" else reply.body
        await send({"type": "http.response.body", "body": body})

    async def _stream(
        self,
        send: Send,
        reply: Stream,
        ex: Exchange,
        watch: DisconnectWatch,
        wire: WireFormat,
        redact: Callable[[str], str],
    ) -> None:
        """Relay events until done or until the client hangs up (the upstream is then
        closed at once)."""
        headers = [
            (b"content-type", reply.content_type.encode()),
            (b"x-request-id", ex.request_id.encode()),
        ]
        headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
        began = time.perf_counter()  # the head (its first event) is in hand
        ex.stream = True
        ex.first_token = began - ex.started
        streams = self.runtime.metrics.streams
        streams.inc()
        try:
            await send({"type": "http.response.start", "status": reply.status, "headers": headers})
            await _relay(send, reply, wire, ex.request_id, redact)
        except asyncio.CancelledError:
            if watch.hung_up():
                ex.disconnected = True
                return  # the client left
            if not self.runtime.drain.ended():
                raise  # a real cancellation
            # The head went out with the start: the stream ends with an error event.
            await send({"type": "http.response.body", "body": wire.error_event(_shutting_down())})
        finally:
            watch.close()
            streams.dec()
            await reply.events.aclose()  # type: ignore[attr-defined]
            ex.streamed = time.perf_counter() - began


async def _relay(
    send: Send,
    reply: Stream,
    wire: WireFormat,
    request_id: str,
    redact: Callable[[str], str] = str,
) -> None:
    """Head, then events; the item that ends in `[DONE]` (a kind's last, see
    engine/providers/base.py) also ends the body, and a failure after the first byte
    becomes an error event that does."""
    if reply.raw:
        await _relay_raw(send, reply, request_id)
        return
    tail = b""
    edit = reply.edit  # what the client is sent of each item (see Stream)
    try:
        head = reply.head if edit is None else edit(reply.head)
        if head.endswith(DONE):
            tail = head
        else:
            await send({"type": "http.response.body", "body": head, "more_body": True})
            async for events in reply.events:
                if edit is not None:
                    events = edit(events)
                if events.endswith(DONE):
                    tail = events
                    break
                await send({"type": "http.response.body", "body": events, "more_body": True})
    except GatewayError as err:
        err.message = redact(err.message)
        tail = wire.error_event(err)
    except Exception:
        log.exception("internal error mid-stream id=%s", request_id)
        tail = wire.error_event(InternalError.for_request(request_id))
    await send({"type": "http.response.body", "body": tail})


async def _relay_raw(send: Send, reply: Stream, request_id: str) -> None:
    """Bytes as they come; a failure after the first byte ends the body early (nothing
    can be added to audio that a player would read as an error)."""
    try:
        await send({"type": "http.response.body", "body": reply.head, "more_body": True})
        async for chunk in reply.events:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except GatewayError as err:
        log.warning("stream cut short id=%s: %s", request_id, err.message)
    await send({"type": "http.response.body", "body": b""})


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole body, or BodyTooLarge once it passes `limit`.

    An oversized body is still drained (up to DRAIN_LIMIT more bytes) so that clients
    which send it all before reading, as most do, get to see the 413.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > limit + DRAIN_LIMIT:
            raise BodyTooLarge
        if not message.get("more_body"):
            if size > limit:
                raise BodyTooLarge
            return b"".join(chunks)


def _shutting_down() -> GatewayError:
    return ShuttingDown("The server is shutting down and graceful_timeout ran out; try again.")


def _timed_out(seconds: float, reading: bool) -> GatewayError:
    """request_timeout ran out: a 408 while the body was still arriving, else a 504
    (for a stream, before its first byte)."""
    if reading:
        return RequestTimedOut(
            f"The request body did not arrive within request_timeout ({seconds:g}s)."
        )
    return UpstreamTimeout(
        f"The request did not complete within request_timeout ({seconds:g}s).",
        code="request_timeout",
    )


def _peer(scope: Scope) -> str | None:
    """The client's address as the server saw it (X-Forwarded-For is not trusted)."""
    client = scope.get("client")
    return str(client[0]) if client else None


def _with_request_id(send: Send, request_id: str) -> Send:
    """`send` for the fallback app: its answers carry the request id too."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [
                *message.get("headers", []),
                (b"x-request-id", request_id.encode()),
            ]
        await send(message)

    return wrapped
