"""A fake Anthropic Messages API on 127.0.0.1, as its public reference documents the wire.

It checks `x-api-key` and `anthropic-version`, validates the request the way the real
API does (roles, tool_result pairing, content block shapes), and answers deterministically:
a tool_use turn when tools are offered and the last turn is not a tool result, otherwise
text that quotes the user; `count_tokens` counts a quarter of the messages' JSON.
Scripted models: `overloaded` (529), `bad` (400),
`ratelimited` (429), `broken` (500), `midstream-error` (an `error` event after the first
delta), `truncated` (the stream stops without message_stop), `*parallel*` (one tool_use
per offered tool).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from . import FakeUpstream

API_KEY = "sk-ant-test-key"
SCRIPTED = {
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "bad": (400, "invalid_request_error", "model: this model is scripted to reject requests"),
    "ratelimited": (429, "rate_limit_error", "Number of requests has exceeded your rate limit"),
    "broken": (500, "api_error", "Internal server error"),
}
Json = dict[str, Any]


class ApiError(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def error_response(status: int, kind: str, message: str, **headers: str) -> web.Response:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return web.json_response(
        body, status=status, headers=headers, dumps=lambda o: orjson.dumps(o).decode()
    )


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)


def validate(req: Any) -> None:
    """Reject what the real API rejects, with its error type."""
    if not isinstance(req, dict):
        raise _invalid("body: must be an object")
    if not isinstance(req.get("model"), str):
        raise _invalid("model: Field required")
    if not isinstance(req.get("max_tokens"), int) or req["max_tokens"] < 1:
        raise _invalid("max_tokens: Field required")
    messages = req.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages: at least one message is required")
    previous_tool_ids: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise _invalid(
                f'messages.{i}.role: Unexpected role "{role}". The Messages API accepts a '
                'top-level `system` parameter, not "system" as an input message role.'
            )
        blocks = message.get("content")
        if isinstance(blocks, str):
            blocks = [{"type": "text", "text": blocks}]
        for j, block in enumerate(blocks):
            _validate_block(block, f"messages.{i}.content.{j}", role, previous_tool_ids)
        previous_tool_ids = {b["id"] for b in blocks if b.get("type") == "tool_use"}
    for k, tool in enumerate(req.get("tools") or []):
        if not tool.get("name") or not isinstance(tool.get("input_schema"), dict):
            raise _invalid(f"tools.{k}: name and input_schema are required")
    temperature = req.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        raise _invalid("temperature: range: 0..1")


def _validate_block(block: Json, where: str, role: str, tool_ids: set[str]) -> None:
    kind = block.get("type")
    if kind == "text" and not block.get("text"):
        raise _invalid(f"{where}: text content blocks must be non-empty")
    if kind == "image":
        source = block.get("source") or {}
        if source.get("type") == "base64":
            if source.get("media_type") not in (
                "image/jpeg",
                "image/png",
                "image/gif",
                "image/webp",
            ):
                raise _invalid(f"{where}.source.media_type: unsupported image type")
        elif source.get("type") != "url" or not source.get("url"):
            raise _invalid(f"{where}.source: expected a base64 or url source")
    if kind == "tool_use" and (role != "assistant" or not isinstance(block.get("input"), dict)):
        raise _invalid(
            f"{where}: tool_use blocks belong to assistant turns and need an input object"
        )
    if kind == "tool_result" and block.get("tool_use_id") not in tool_ids:
        raise _invalid(
            f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: "
            f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding "
            "`tool_use` block in the previous message."
        )
    if kind not in ("text", "image", "document", "tool_use", "tool_result"):
        raise _invalid(f"{where}.type: unknown content block type {kind!r}")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(
        _text_of(b.get("content")) if "content" in b else b.get("text", "") for b in content
    )


def _sample_input(schema: Json) -> Json:
    samples = {"string": "Paris", "integer": 3, "number": 2.5, "boolean": True}
    props = schema.get("properties") or {}
    return {name: samples.get(spec.get("type"), "x") for name, spec in props.items()}


def plan_reply(req: Json, message_id: str) -> tuple[list[Json], str, str | None]:
    """(content blocks, stop_reason, stop_sequence) for a validated request."""
    last = req["messages"][-1]
    blocks = [last["content"]] if isinstance(last["content"], str) else last["content"]
    results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
    choice = req.get("tool_choice") or {"type": "auto"}
    tools = req.get("tools") or []
    if results:
        said = "; ".join(_text_of(r.get("content") or "") for r in results)
        return _cut_text(req, f"The tool said: {said}")
    if tools and choice["type"] != "none" and last["role"] == "user":
        if choice["type"] == "tool":
            chosen = [t for t in tools if t["name"] == choice["name"]]
        elif "parallel" in req["model"] and not choice.get("disable_parallel_tool_use"):
            chosen = tools
        else:
            chosen = tools[:1]
        calls = [
            {
                "type": "tool_use",
                "id": f"toolu_{message_id}_{i}",
                "name": t["name"],
                "input": _sample_input(t["input_schema"]),
            }
            for i, t in enumerate(chosen)
        ]
        preface = [{"type": "text", "text": "Let me check."}] if choice["type"] == "auto" else []
        return preface + calls, "tool_use", None
    images = sum(1 for b in blocks if isinstance(b, dict) and b.get("type") == "image")
    text = f"Hello! You said: {_text_of(last['content'])}"
    if images:
        text += f" I see {images} image(s)."
    return _cut_text(req, text)


def _cut_text(req: Json, text: str) -> tuple[list[Json], str, str | None]:
    stop_reason, stop_sequence = "end_turn", None
    for sequence in req.get("stop_sequences") or []:
        if sequence in text:
            text, stop_reason, stop_sequence = text.split(sequence)[0], "stop_sequence", sequence
    words = text.split(" ")
    if len(words) > req["max_tokens"]:
        text, stop_reason, stop_sequence = " ".join(words[: req["max_tokens"]]), "max_tokens", None
    return [{"type": "text", "text": text}], stop_reason, stop_sequence


def output_tokens(blocks: list[Json]) -> int:
    return sum(len(b["text"].split()) if b["type"] == "text" else 10 for b in blocks)


class FakeAnthropic(FakeUpstream):
    """`url` is the API base (`.../v1`), as a provider's `base_url` would hold it."""

    prefix = "/v1"

    def __init__(self, api_key: str = API_KEY, models: tuple[str, ...] = ("claude-test",)) -> None:
        super().__init__()
        self.api_key = api_key
        self.models = models

    def setup(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/messages/count_tokens", self.count_tokens)
        app.router.add_get("/v1/models", self.list_models)

    def _check_headers(self, request: web.Request) -> None:
        if request.headers.get("x-api-key") != self.api_key:
            raise ApiError(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            raise _invalid("anthropic-version: header is required")

    async def list_models(self, request: web.Request) -> web.Response:
        try:
            self._check_headers(request)
        except ApiError as err:
            return error_response(err.status, err.kind, err.message)
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in self.models
        ]
        return web.json_response(
            {
                "data": data,
                "has_more": False,
                "first_id": self.models[0],
                "last_id": self.models[-1],
            }
        )

    async def count_tokens(self, request: web.Request) -> web.Response:
        """`input_tokens` as the fake's messages count them (a quarter of the JSON)."""
        try:
            self._check_headers(request)
            try:
                req = orjson.loads(await request.read())
            except orjson.JSONDecodeError:
                raise _invalid("body: invalid JSON") from None
            if "max_tokens" in req:
                raise _invalid("max_tokens: Extra inputs are not permitted")
            validate({**req, "max_tokens": 1})
            if req["model"] in SCRIPTED:
                raise ApiError(*SCRIPTED[req["model"]])
        except ApiError as err:
            return error_response(err.status, err.kind, err.message)
        return web.json_response({"input_tokens": len(orjson.dumps(req["messages"])) // 4})

    async def messages(self, request: web.Request) -> web.StreamResponse:
        try:
            self._check_headers(request)
            try:
                req = orjson.loads(await request.read())
            except orjson.JSONDecodeError:
                raise _invalid("body: invalid JSON") from None
            validate(req)
            if req["model"] in SCRIPTED:
                raise ApiError(*SCRIPTED[req["model"]])
            if req["model"] == "midstream-error" and not req.get("stream"):
                raise ApiError(*SCRIPTED["broken"])
        except ApiError as err:
            extra = {"retry-after": "7"} if err.status == 429 else {}
            return error_response(err.status, err.kind, err.message, **extra)
        message_id = f"msg_fake{len(self.requests)}"
        blocks, stop_reason, stop_sequence = plan_reply(req, message_id)
        usage = {
            "input_tokens": len(orjson.dumps(req["messages"])) // 4,
            "output_tokens": output_tokens(blocks),
        }
        message = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": req["model"],
            "content": blocks,
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": usage,
        }
        if not req.get("stream"):
            return web.json_response(message, dumps=lambda o: orjson.dumps(o).decode())
        return await self._stream(request, message)

    async def _stream(self, request: web.Request, message: Json) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"content-type": "text/event-stream", "cache-control": "no-cache"}
        )
        await resp.prepare(request)
        model = message["model"]
        for event in stream_events(message):
            await resp.write(
                b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
            )
            first_delta = event["type"] == "content_block_delta"
            if first_delta and model == "midstream-error":
                error = {
                    "type": "error",
                    "error": {"type": "overloaded_error", "message": "Overloaded"},
                }
                await resp.write(b"event: error\ndata: " + orjson.dumps(error) + b"\n\n")
                break
            if first_delta and model == "truncated":
                break
        await resp.write_eof()
        return resp


def stream_events(message: Json) -> list[Json]:
    """The documented event sequence for a finished `message`."""
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": message["usage"]["input_tokens"], "output_tokens": 1},
    }
    events: list[Json] = [{"type": "message_start", "message": start}]
    for i, block in enumerate(message["content"]):
        if block["type"] == "text":
            opening: Json = {"type": "text", "text": ""}
            words = block["text"].split(" ")
            deltas = [
                {"type": "text_delta", "text": w if k == 0 else " " + w}
                for k, w in enumerate(words)
            ]
        else:
            opening = {**block, "input": {}}
            raw = orjson.dumps(block["input"]).decode()
            third = max(1, len(raw) // 3)
            pieces = ["", raw[:third], raw[third : 2 * third], raw[2 * third :]]
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
        events.append({"type": "content_block_start", "index": i, "content_block": opening})
        if i == 0:
            events.append({"type": "ping"})
        events += [{"type": "content_block_delta", "index": i, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": i})
    events.append(
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": message["stop_reason"],
                "stop_sequence": message["stop_sequence"],
            },
            "usage": {"output_tokens": message["usage"]["output_tokens"]},
        }
    )
    events.append({"type": "message_stop"})
    return events
