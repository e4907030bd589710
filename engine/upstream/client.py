"""The one place upstream calls are made: one aiohttp session per worker, errors mapped.

aiohttp's exceptions never leave this module; callers see the GatewayError tree.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import orjson
from aiohttp.abc import ResolveResult
from aiohttp.client_proto import ResponseHandler
from aiohttp.resolver import ThreadedResolver

from engine.errors import (
    GatewayError,
    RateLimited,
    UpstreamFailed,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from engine.formats.sse import EventBlocks, EventParser

DEFAULT_MAX_RESPONSE_SIZE = 32 * 1024 * 1024  # the max_response_size setting's default
IMAGE_MAX_BYTES = 20 * 1024 * 1024
IMAGE_TIMEOUT = 30.0  # seconds for one whole image fetch
MAX_REDIRECTS = 3
FINISH_WAIT = 0.5  # seconds to wait for a body's end after a stream said it was done


class PrivateAddress(OSError):
    """A guarded fetch was about to reach a non-public address."""


def _public(address: str) -> bool:
    return ipaddress.ip_address(address.split("%", 1)[0]).is_global


class PublicOnlyResolver(ThreadedResolver):
    """Resolves like the default, but refuses names that lead to non-public addresses.

    Checking at connect time (not before) leaves no gap for DNS rebinding.
    """

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await super().resolve(host, port, family)
        if not all(_public(r["host"]) for r in results):
            raise PrivateAddress(f"{host} resolves to a non-public address")
        return results


class ConnectionProtocol(ResponseHandler):
    """aiohttp's protocol for one upstream connection, minus a no-op on the stream path.

    aiohttp's body reader calls `resume_reading()` after every chunk it hands out
    while its buffer is low, whether reading was paused or not. Since aiohttp 3.14
    the call, unpaused, re-feeds the parser nothing and resumes a transport that is
    reading: about 90 bytecodes per SSE chunk, 5% of a relayed stream's instructions.
    Reading is only ever paused by `pause_reading()`, which sets `_reading_paused`,
    so the call is passed on exactly when there is something to resume.
    """

    def resume_reading(self, resume_parser: bool = True) -> None:
        if self._reading_paused:
            super().resume_reading(resume_parser)


def _session(resolver: ThreadedResolver | None = None) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=0, ttl_dns_cache=300, enable_cleanup_closed=True, resolver=resolver
    )
    # The connector makes each connection's protocol with `_factory` (not public API:
    # tests/test_upstream_flow.py checks that it is still used, and that flow control
    # still pauses and resumes).
    make: Callable[..., ResponseHandler] = ConnectionProtocol
    connector._factory = functools.partial(make, loop=asyncio.get_running_loop())
    # No cookie jar: upstream calls are made for many clients, and a cookie one answer
    # set must not ride along on another client's request (nor cost a lookup each time).
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=True,
        trust_env=False,
    )


class Upstream:
    """A pooled HTTP client; `open()` sends a request and returns once headers arrived.

    `max_response_size` gives the live limit on what one answer's body may hold once
    decompressed (the setting of the same name); the whole of a non-stream body, one
    event of a stream.
    """

    def __init__(
        self, max_response_size: Callable[[], int] = lambda: DEFAULT_MAX_RESPONSE_SIZE
    ) -> None:
        self._max_response_size = max_response_size
        self._session: aiohttp.ClientSession | None = None
        self._public_session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}  # one per provider timeout

    async def start(self) -> None:
        self._session = _session()
        # URLs handed to us by upstreams (image results) may only lead to public hosts.
        self._public_session = _session(PublicOnlyResolver())

    async def close(self) -> None:
        for session in (self._session, self._public_session):
            if session is not None:
                await session.close()
        self._session = self._public_session = None

    async def fetch_image(self, url: str, *, allow_private: bool, provider: str) -> bytes:
        """GET an image an upstream pointed to: http(s) only, public hosts unless
        `allow_private`, at most IMAGE_MAX_BYTES in IMAGE_TIMEOUT, redirects re-checked."""
        session = self._session if allow_private else self._public_session
        if session is None:
            raise UpstreamFailed("The upstream client is not running.")
        try:
            async with asyncio.timeout(IMAGE_TIMEOUT):
                for _ in range(MAX_REDIRECTS + 1):
                    _check_image_url(url, allow_private)
                    async with session.get(url, allow_redirects=False) as resp:
                        if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                            url = urljoin(url, resp.headers["Location"])
                            continue
                        if resp.status != 200:
                            raise UpstreamFailed(
                                f"Fetching the image from '{provider}' answered {resp.status}."
                            )
                        return await _read_capped(resp, provider)
        except TimeoutError:
            raise UpstreamTimeout(f"Fetching the image from '{provider}' took too long.") from None
        except aiohttp.ClientError as exc:
            private = isinstance(getattr(exc, "os_error", None), PrivateAddress)
            reason = "it leads to a non-public address" if private else type(exc).__name__
            raise UpstreamFailed(
                f"The image from '{provider}' could not be fetched ({reason})."
            ) from None
        raise UpstreamFailed(f"The image from '{provider}' redirected too often.")

    def _timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        """Connect within `seconds`, and never wait longer than that for the next bytes."""
        found = self._timeouts.get(seconds)
        if found is None:
            found = aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)
            self._timeouts[seconds] = found
        return found

    async def open(
        self,
        method: str,
        url: str,
        *,
        provider: str,
        headers: Mapping[str, str],
        body: bytes | AsyncIterable[bytes] | None = None,
        timeout: float,
        secret: str | None = None,
    ) -> UpstreamResponse:
        """Send a request; wait at most `timeout` seconds for the response headers.

        Non-2xx answers are mapped and raised here, with `secret` scrubbed from messages.
        """
        if self._session is None:
            raise UpstreamFailed("The upstream client is not running.")
        try:
            resp = await self._session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=self._timeout(timeout),
                allow_redirects=False,
                max_line_size=1 << 20,
                max_field_size=1 << 20,
            )
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamTimeout(
                f"Provider '{provider}' did not answer within {timeout:g} s."
            ) from None
        except aiohttp.ClientError as exc:
            raise UpstreamUnreachable(
                f"Provider '{provider}' could not be reached ({type(exc).__name__})."
            ) from None
        answer = UpstreamResponse(resp, provider, self._max_response_size())
        if resp.status >= 300:
            await answer.raise_for_status(secret)
        return answer


def _check_image_url(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamFailed("An image URL must be http or https.")
    if allow_private:
        return
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return  # a name: the PublicOnlyResolver checks what it resolves to
    if not literal.is_global:
        raise UpstreamFailed("An image URL points to a non-public address; refused.")


async def _read_capped(resp: aiohttp.ClientResponse, provider: str) -> bytes:
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(65536):
        size += len(chunk)
        if size > IMAGE_MAX_BYTES:
            raise UpstreamFailed(f"The image from '{provider}' exceeds {IMAGE_MAX_BYTES} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


class UpstreamResponse:
    """An upstream answer whose body is read whole or as server-sent events.

    Every read waits at most the provider's timeout for the next bytes: aiohttp's
    socket read timeout, armed when the request was sent, so no timer is added per read.
    """

    def __init__(
        self,
        resp: aiohttp.ClientResponse,
        provider: str,
        limit: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        self._resp = resp
        self.provider = provider
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers
        self.limit = limit  # bytes, decompressed: a whole body, or one stream event
        self._cutter = EventBlocks()

    async def read(self) -> bytes:
        """The whole body; past `limit` bytes (decompressed) the connection is dropped and
        the answer is a 502."""
        try:
            declared = self._resp.content_length
            if declared is not None and declared > self.limit and not self._compressed():
                raise self._too_large()
            return await self._read_within_limit()
        except aiohttp.ServerTimeoutError:
            raise UpstreamTimeout(f"Provider '{self.provider}' stopped sending.") from None
        except aiohttp.ClientError as exc:
            raise UpstreamFailed(
                f"Provider '{self.provider}' broke off its answer ({type(exc).__name__})."
            ) from None
        finally:
            self._resp.release()

    async def _read_within_limit(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while chunk := await self._resp.content.readany():
            size += len(chunk)
            if size > self.limit:
                raise self._too_large()
            chunks.append(chunk)
        return b"".join(chunks)

    def _compressed(self) -> bool:
        return bool(self._resp.headers.get("Content-Encoding", "identity") != "identity")

    def _too_large(self) -> UpstreamFailed:
        self.close()  # the rest is not read: the connection goes, not back to the pool
        return UpstreamFailed(
            f"Provider '{self.provider}' sent an answer larger than max_response_size "
            f"({self.limit} bytes); it was dropped.",
            code="upstream_response_too_large",
        )

    async def json(self) -> Any:
        data = await self.read()
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamFailed(
                f"Provider '{self.provider}' sent a body that is not JSON."
            ) from None

    async def events(self) -> AsyncIterator[tuple[str, bytes]]:
        """Yield (event name, data) per SSE event; lines of any length are handled."""
        parser = EventParser()
        pending = 0  # bytes read since the last complete event
        try:
            while chunk := await self._read():
                pending += len(chunk)
                for event in parser.feed(chunk):
                    pending = 0
                    yield event
                if pending > self.limit:
                    raise self._too_large()
            for event in parser.close():
                yield event
        finally:
            self.close()

    async def next_events(self) -> bytes:
        """The complete SSE events that arrived next, as raw bytes, unparsed; b"" at the
        body's end. A plain coroutine (no generator per stream): the relay's own loop
        calls it, and closes the response when it stops early."""
        while chunk := await self._read():
            events = self._cutter.feed(chunk)
            if events:
                return events
            if self._cutter.pending > self.limit:
                raise self._too_large()
        return self._cutter.close()

    async def _read(self) -> bytes:
        """Everything that arrived so far (b"" at the end), waiting for at least a byte."""
        try:
            return await self._resp.content.readany()
        except aiohttp.ServerTimeoutError:
            raise UpstreamTimeout(f"Provider '{self.provider}' went silent mid-stream.") from None
        except aiohttp.ClientError as exc:
            raise UpstreamFailed(
                f"Provider '{self.provider}' broke off its stream ({type(exc).__name__})."
            ) from None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive, untouched (audio); the connection is dropped
        at once if the reader stops early."""
        try:
            while chunk := await self._read():
                yield chunk
        finally:
            self.close()

    async def finish(self) -> None:
        """The stream said it is done: read what is left of the body (its end is usually
        in flight) so the connection goes back to the pool, or drop it after FINISH_WAIT."""
        content = self._resp.content
        if content.at_eof():  # the usual case: the end came with the last events
            self._resp.release()
            return
        try:
            async with asyncio.timeout(FINISH_WAIT):
                while await content.readany():
                    pass
        except (TimeoutError, aiohttp.ClientError):
            self.close()
            return
        self._resp.release()

    def close(self) -> None:
        """Drop the connection at once (the upstream sees the close); after the body's
        end has been read the connection is already back in the pool and stays there."""
        self._resp.close()

    async def raise_for_status(self, secret: str | None) -> None:
        try:
            body = await self.read()
        except GatewayError:
            body = b""
        raise upstream_error(self.provider, self.status, body, secret, self.headers)


def upstream_error(
    provider: str,
    status: int,
    body: bytes,
    secret: str | None,
    headers: Mapping[str, str] | None = None,
) -> GatewayError:
    """The GatewayError for an upstream's non-2xx answer, with `secret` scrubbed."""
    message = _upstream_message(body) or f"HTTP {status}"
    if secret:
        message = message.replace(secret, "***")
    text = f"Provider '{provider}' answered {status}: {message}"
    context = {"upstream_status": status}  # lets a kind refine the mapping (e.g. 529)
    if status == 429:
        retry = (headers or {}).get("Retry-After", "1")
        return RateLimited(text, headers={"Retry-After": retry}, context=context)
    if 400 <= status < 500:
        return UpstreamRejected(text, status=status, context=context)
    return UpstreamFailed(text, context=context)


def upstream_error_from_event(provider: str, data: bytes, secret: str | None) -> GatewayError:
    """The GatewayError for an `error` event an upstream sent mid-stream."""
    message = _upstream_message(data) or "error event"
    if secret:
        message = message.replace(secret, "***")
    return UpstreamFailed(f"Provider '{provider}' failed mid-stream: {message}")


def _upstream_message(body: bytes) -> str:
    """The human part of an upstream error body, whatever its shape."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:300].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or err)[:1000]
        if isinstance(err, str):
            return err[:1000]
    return str(data)[:300]
