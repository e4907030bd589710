"""A fake OpenAI-compatible upstream: chat (JSON and SSE, tool calls), embeddings, models,
and the Responses API (tests/fakes/openai_responses.py).

The model name scripts the behaviour: `fail-500`, `reject-400`, `limit-429`, `slow`
(headers after SLOW_SECONDS), `stall` (the stream stops mid-way), `big` (a 1 MiB SSE line),
`midstream-error` (an error event after the first chunk), `slow-stream` (a pause after
every chunk), `held` (the stream waits after its first chunk until `release_held()`),
`hold` (a stream after its first chunk, a JSON answer before anything, waits until its
client, the gateway, hangs up: counted in `hung_up`); anything else answers normally.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from typing import Any

import orjson
from aiohttp import web

from tests.fakes import FakeUpstream, openai_responses

API_KEY = "sk-9fQ2xLr7Tb4Wm1ZkP3vN"  # random-looking, as real keys are
SLOW_SECONDS = 3.0
STREAM_PAUSE = 0.05  # seconds after each chunk of `slow-stream`
HOLD_LIMIT = 20.0  # a `held` stream that nobody releases goes on after this long
# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)  # longer than the test provider timeout, short enough for teardown


def _error(
    status: int, message: str, type_: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": None, "code": None}}
    return web.json_response(body, status=status, headers=headers)


class FakeOpenAI(FakeUpstream):
    prefix = "/v1"

    def __init__(self, models: tuple[str, ...] = ("gpt-test", "gpt-other")) -> None:
        super().__init__()
        self.models = list(models)
        self.hung_up = 0  # answers whose client went away before the end
        self._release = threading.Event()  # set from any thread by release_held()

    def release_held(self) -> None:
        """Let `held` streams (those waiting now and any later ones) run to the end."""
        self._release.set()

    async def _until_released(self) -> None:
        deadline = time.monotonic() + HOLD_LIMIT
        while not self._release.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def setup(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/responses", self.responses)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_get("/v1/models", self.list_models)
        app.router.add_post("/v1/images/generations", self.images)
        app.router.add_get("/files/image.png", self.image_file)
        app.router.add_get("/files/redirect", self.image_redirect)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {API_KEY}"

    async def list_models(self, request: web.Request) -> web.Response:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _error(401, "Incorrect API key provided.", "invalid_request_error")
        body = await request.json()
        model = body["model"]
        if model == "fail-500":
            return _error(500, f"internal failure near key {API_KEY}", "server_error")
        if model == "reject-400":
            return _error(400, "max_tokens is too large for this model", "invalid_request_error")
        if model == "limit-429":
            return _error(429, "Rate limit reached", "requests", {"Retry-After": "7"})
        if model == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        if model == "hold" and body.get("stream"):
            return await self._hold(request, body)
        if model == "hold":
            await self._until_hung_up(request)
            return web.json_response(_completion(body))
        if body.get("stream"):
            return await self._stream(request, body)
        return web.json_response(_completion(body))

    async def responses(self, request: web.Request) -> web.StreamResponse:
        """The Responses API (tests/fakes/openai_responses.py)."""
        if not self._authorized(request):
            return _error(401, "Incorrect API key provided.", "invalid_request_error")
        return await openai_responses.answer(request, await request.json())

    async def _stream(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        try:
            for index, chunk in enumerate(_chunks(body)):
                await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
                if body["model"] == "slow-stream":
                    await asyncio.sleep(STREAM_PAUSE)
                if body["model"] == "held" and index == 0:
                    await self._until_released()
                if body["model"] == "stall":
                    await asyncio.sleep(SLOW_SECONDS)
                if body["model"] == "midstream-error":
                    error = {"error": {"message": "upstream broke", "type": "server_error"}}
                    await resp.write(b"data: " + orjson.dumps(error) + b"\n\n")
                    return resp
            await resp.write(b"data: [DONE]\n\n")
            if body["model"] == "late-end":
                await asyncio.sleep(0.05)  # the body's end comes in a later packet, as in real life
        except (ConnectionResetError, asyncio.CancelledError):
            self.hung_up += 1
            raise
        return resp

    async def _hold(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        """Send one chunk, then wait until the client (the gateway) closes the connection."""
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"data: " + orjson.dumps(_chunks(body)[0]) + b"\n\n")
        await self._until_hung_up(request)
        return resp

    async def _until_hung_up(self, request: web.Request) -> None:
        """Wait (5 s at most) for the client to close the connection; count it if it did."""
        for _ in range(500):
            if request.transport is None or request.transport.is_closing():
                self.hung_up += 1
                return
            await asyncio.sleep(0.01)

    async def images(self, request: web.Request) -> web.Response:
        """URL answers always for `url-only`; otherwise b64_json when asked."""
        body = await request.json()
        n = body.get("n") or 1
        base = f"http://127.0.0.1:{self.port}/files"
        if body["model"] == "url-only" or body.get("response_format") != "b64_json":
            target = "redirect" if body.get("prompt") == "redirect" else "image.png"
            data = [{"url": f"{base}/{target}"} for _ in range(n)]
        else:
            data = [{"b64_json": base64.b64encode(PNG).decode()} for _ in range(n)]
        return web.json_response({"created": int(time.time()), "data": data})

    async def image_file(self, request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def image_redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.1:{self.port}/files/image.png")

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dims = body.get("dimensions", 4)
        data = [
            {"object": "embedding", "index": i, "embedding": [0.1 * (i + 1)] * dims}
            for i in range(len(inputs))
        ]
        usage = {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}
        return web.json_response(
            {"object": "list", "data": data, "model": body["model"], "usage": usage}
        )


def _reply_text(body: dict[str, Any]) -> str:
    if body["model"] == "big":
        return "x" * (1 << 20)
    last = body["messages"][-1]
    content = last.get("content")
    return f"upstream says: {content}" if isinstance(content, str) else "upstream says hi"


def _wants_tool(body: dict[str, Any]) -> bool:
    return bool(body.get("tools")) and body["messages"][-1].get("role") != "tool"


def _completion(body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": _reply_text(body), "refusal": None}
    finish = "stop"
    if _wants_tool(body):
        name = body["tools"][0]["function"]["name"]
        message = {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": name, "arguments": '{"city": "Paris"}'},
                }
            ],
        }
        finish = "tool_calls"
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "system_fingerprint": "fp_fake",
        "choices": [
            {"index": i, "message": message, "finish_reason": finish, "logprobs": None}
            for i in range(body.get("n") or 1)
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }


def _chunks(body: dict[str, Any]) -> list[dict[str, Any]]:
    head = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body["model"],
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    if _wants_tool(body):
        name = body["tools"][0]["function"]["name"]
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }
                    ]
                }
            )
        )
        for piece in ('{"ci', 'ty": ', '"Par', 'is"}'):
            out.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}))
        out.append(chunk({}, "tool_calls"))
    else:
        text = _reply_text(body)
        out += (
            [chunk({"content": text[i : i + 8]}) for i in range(0, len(text), 8)]
            if body["model"] != "big"
            else [chunk({"content": text})]
        )
        out.append(chunk({}, "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        out.append(
            {
                **head,
                "choices": [],
                "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
            }
        )
    return out
