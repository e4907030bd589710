"""The stack floor: a bare ASGI relay on Hypercorn (uvloop) and aiohttp.

No framework, no features: `POST /v1/chat/completions` reads the body, forwards it
to the upstream over one aiohttp session and relays the answer (each upstream read
one client write when streaming). It sends only what SPEC.md asks of every answer:
a content type, `x-request-id` and the three `x-patchbay-*` headers (fixed values).
No gateway on Hypercorn and aiohttp as they ship that answers as SPEC.md says can
cost less per request; `run.py --floor` and `instructions.py` measure it beside
Patchbay and the Quart passthrough. (Patchbay's upstream connections skip one no-op
aiohttp call per chunk read, `engine.upstream.ConnectionProtocol`, so on streams it
can come within a few percent of this floor.)

Run: python bench/bare_relay.py --port 9002 --upstream http://127.0.0.1:9000/v1
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp
import orjson
from serving import serve_relay

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


# What SPEC.md asks of every answer that reached a provider, besides its content type.
SERVED = [
    (b"x-patchbay-provider", b"bench"),
    (b"x-patchbay-model", b"bench-model"),
    (b"x-patchbay-attempts", b"1"),
]


class Relay:
    """The ASGI app: a lifespan that opens and closes the session, and the relay."""

    def __init__(self, upstream: str) -> None:
        self.target = upstream.rstrip("/") + "/chat/completions"
        self.session: aiohttp.ClientSession | None = None
        self.ids = random.Random()

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._relay(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _relay(self, receive: Receive, send: Send) -> None:
        assert self.session is not None
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        stream = orjson.loads(body).get("stream")
        answer = await self.session.post(
            self.target, data=body, headers={"Content-Type": "application/json"}
        )
        content_type = answer.headers.get("Content-Type", "application/json").encode()
        request_id = b"%032x" % self.ids.getrandbits(128)
        headers = [(b"content-type", content_type), (b"x-request-id", request_id), *SERVED]
        if stream:
            start = {"type": "http.response.start", "status": answer.status}
            await send({**start, "headers": headers})
            async for chunk in answer.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            answer.release()
            return
        data = await answer.read()
        headers.append((b"content-length", b"%d" % len(data)))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": data})


if __name__ == "__main__":
    # No `server` header: Patchbay sends none, and the floor is the least an answer costs.
    serve_relay(Relay, __doc__.splitlines()[0], default_port=9002, banner=False)
