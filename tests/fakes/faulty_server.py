"""A faulty OpenAI-compatible upstream: answers that are wrong in the ways bad luck makes them.

The model name picks the fault:
`endless` a 200 JSON answer whose body never ends; `gzip-bomb` a small gzip body that
inflates to GZIP_BOMB_BYTES; `bad-chunks` a stream whose chunks have `"choices": 5`;
`bad-json` a JSON answer `{"choices": 5}`; `echo-headers` a 401 whose error message
quotes every request header (an upstream that echoes what it was sent); `echo-fragments`
a 500 quoting the bearer token and `X-Org-Token` cut and case-changed, and
`echo-midstream` the same in an error event after a first chunk. Embeddings, image and
search requests may pick a fault too: `/embeddings` and `/images/generations` by model,
`/search` (SearXNG's path) by the query `q`; `/image/...` is always the bomb, and
`/web/search` (Brave's path) and `/models` always echo the headers.
"""

from __future__ import annotations

import asyncio
import zlib
from functools import cache

import orjson
from aiohttp import web

from tests.fakes import FakeUpstream

GZIP_BOMB_BYTES = 1 << 30  # what the bomb inflates to: 1 GiB of zeros
ENDLESS_CHUNK = b" " * 65536  # whitespace inside a JSON object: valid so far, forever


@cache
def gzip_bomb() -> bytes:
    """GZIP_BOMB_BYTES of zeros, gzip-compressed (about 1 MiB), made once per process."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    block = bytes(1 << 20)
    parts = [packer.compress(block) for _ in range(GZIP_BOMB_BYTES // len(block))]
    return b"".join(parts) + packer.flush()


class FaultyUpstream(FakeUpstream):
    prefix = "/v1"

    def setup(self, app: web.Application) -> None:
        for path in ("/v1/chat/completions", "/v1/embeddings", "/v1/images/generations"):
            app.router.add_post(path, self.answer)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/search", self.search)
        app.router.add_get("/web/search", self.models)
        app.router.add_get("/image/{rest:.*}", self.image)

    async def answer(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        return await self.fault(request, str(body.get("model")), bool(body.get("stream")))

    async def search(self, request: web.Request) -> web.StreamResponse:
        return await self.fault(request, request.query.get("q", ""), False)

    async def models(self, request: web.Request) -> web.StreamResponse:
        return await self.fault(request, "echo-headers", False)

    async def image(self, request: web.Request) -> web.StreamResponse:
        return await self.bomb(request, "image/png")

    async def fault(self, request: web.Request, name: str, stream: bool) -> web.StreamResponse:
        if name == "endless":
            return await self.endless(request)
        if name == "gzip-bomb":
            return await self.bomb(request, "application/json")
        if name == "bad-chunks":
            return await self.bad_chunks(request) if stream else self.json({"choices": 5})
        if name in ("echo-fragments", "echo-midstream"):
            return await self.fragments(request, name == "echo-midstream")
        if name == "echo-headers":
            shown = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
            error = {"message": f"Unauthorized. You sent {shown}", "type": "auth"}
            return self.json({"error": error}, status=401)
        return self.json({"choices": 5})

    def json(self, data: object, status: int = 200) -> web.Response:
        return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")

    async def endless(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"choices": [')
        try:
            while True:
                await resp.write(ENDLESS_CHUNK)
        except (ConnectionError, asyncio.CancelledError):
            return resp  # the gateway hung up: what it should do

    async def bomb(self, request: web.Request, content_type: str) -> web.StreamResponse:
        headers = {"Content-Type": content_type, "Content-Encoding": "gzip"}
        return web.Response(body=gzip_bomb(), headers=headers)

    async def fragments(self, request: web.Request, midstream: bool) -> web.StreamResponse:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        org = request.headers.get("X-Org-Token", "")
        message = (
            f"bad key {token.upper()} (starts {token[:12]}, ends {token[-10:]}); "
            f"org {org.swapcase()}, {org[3:15]}"
        )
        error = {"error": {"message": message, "type": "auth"}}
        if not midstream:
            return self.json(error, status=500)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        chunk = {"choices": [{"index": 0, "delta": {"content": "hi"}}]}
        await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await resp.write(b"data: " + orjson.dumps(error) + b"\n\n")
        return resp

    async def bad_chunks(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b'data: {"choices": 5}\n\n')
        await resp.write(b'data: {"choices": [5, {"delta": 3}]}\n\n')
        await resp.write(b"data: [1, 2]\n\ndata: [DONE]\n\n")
        return resp
