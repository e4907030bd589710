"""A fake Pollinations on 127.0.0.1: the OpenAI-compatible text endpoint and image GETs.

`POST /openai` answers OpenAI chat (JSON or SSE ending in `data: [DONE]`), quoting the
last user message; model `midstream-error` breaks its stream with an error payload, and
an unknown model answers 404. `GET /prompt/{prompt}` answers a 1x1 PNG whose colour
comes from the seed; prompt `fail` answers 500, prompt `textual` answers HTML.
The same server serves both, so `url` is both the text and the image base URL.
"""

from __future__ import annotations

import struct
import time
import zlib
from typing import Any

import orjson
from aiohttp import web

from . import FakeUpstream

TEXT_MODELS = ("openai", "mistral", "midstream-error")
Json = dict[str, Any]


def png(seed: int) -> bytes:
    """A valid 1x1 PNG; different seeds give different pixels (and bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    pixel = bytes([seed % 256, seed // 256 % 256, seed // 65536 % 256])
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" + pixel))
        + chunk(b"IEND", b"")
    )


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message, "status": status}, status=status)


def _last_user_text(body: Json) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    return ""


class FakePollinations(FakeUpstream):
    def setup(self, app: web.Application) -> None:
        app.router.add_post("/openai", self.chat)
        app.router.add_get("/prompt/{prompt}", self.image)

    async def image(self, request: web.Request) -> web.Response:
        prompt = request.match_info["prompt"]
        if prompt == "fail":
            return _error(500, "Image generation failed")
        if prompt == "textual":
            return web.Response(text="<html>busy</html>", content_type="text/html")
        try:
            int(request.query.get("width", "1024"))
            int(request.query.get("height", "1024"))
            seed = int(request.query.get("seed", "42"))
        except ValueError:
            return _error(400, "width, height and seed must be integers")
        return web.Response(body=png(seed), content_type="image/png")

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json(loads=orjson.loads)
        model = body.get("model")
        if model not in TEXT_MODELS:
            return _error(404, f"Model '{model}' not found")
        reply = f"Pollinations says: {_last_user_text(body)}"
        words = reply.split(" ")
        usage = {
            "prompt_tokens": 7,
            "completion_tokens": len(words),
            "total_tokens": 7 + len(words),
        }
        head = {"id": "chatcmpl-poll1", "created": int(time.time()), "model": model}
        if not body.get("stream"):
            message = {"role": "assistant", "content": reply, "refusal": None}
            choice = {"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}
            return web.json_response(
                {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
            )
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        chunks = [{"role": "assistant", "content": ""}] + [
            {"content": w if i == 0 else " " + w} for i, w in enumerate(words)
        ]
        for i, delta in enumerate(chunks):
            finish = "stop" if i == len(chunks) - 1 else None
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            await resp.write(
                b"data: "
                + orjson.dumps({**head, "object": "chat.completion.chunk", "choices": [choice]})
                + b"\n\n"
            )
            if model == "midstream-error" and i == 1:
                await resp.write(b'data: {"error":{"message":"model crashed","code":500}}\n\n')
                break
        else:
            if (body.get("stream_options") or {}).get("include_usage"):
                final = {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage}
                await resp.write(b"data: " + orjson.dumps(final) + b"\n\n")
            await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
