"""POST /v1/messages and /v1/messages/count_tokens: Anthropic's Messages API, any provider.

A kind whose upstream speaks Messages itself (`anthropic`) is sent the request as it
came, with the client's `anthropic-version` and `anthropic-beta`. Every other kind is
sent the request translated to chat completions, and its answer or stream is
translated back (engine/formats/anthropic_request.py, anthropic_reply.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from engine.errors import GatewayError, InvalidRequest, UpstreamFailed
from engine.formats.anthropic import FORWARDED_HEADERS
from engine.formats.anthropic_reply import EventTranslator, to_message
from engine.formats.anthropic_request import estimate_input_tokens, to_chat_request
from engine.formats.sse import payloads
from engine.handlers.body import BodySchema
from engine.handlers.messages_schemas import COUNT_TOKENS_REQUEST, MESSAGES_REQUEST
from engine.http.messages import Request, Response, Stream
from engine.providers.base import Call, ProviderKind, answer_object
from engine.routing.dispatch import dispatch, plan_for

Opened = tuple[bytes, AsyncIterator[bytes]]


def forwarded(headers: Mapping[str, str]) -> dict[str, str]:
    """The client's headers that belong to the format (an allow-list)."""
    return {name: headers[name] for name in FORWARDED_HEADERS if headers.get(name)}


class CreateMessage:
    """The handler; the request schema is compiled once, at import of the handler table."""

    def __init__(self) -> None:
        self.body = BodySchema(MESSAGES_REQUEST)

    async def __call__(self, req: Request) -> Response | Stream:
        body = self.body(req)
        plan = plan_for(req, body, "chat")
        bridge = Bridge(body, forwarded(req.headers))
        if not body.get("stream"):
            reply, served = await dispatch(req, plan, body, bridge.create)
            return Response(reply, headers=served.headers())
        (first, rest), served = await dispatch(req, plan, body, bridge.open_stream)
        return Stream(first, rest, headers=served.headers())


class Bridge:
    """One request's way to each target it is tried on: natively, or through chat (its
    chat body translated once, when a target first needs it)."""

    def __init__(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        self.body = body
        self.headers = headers
        self.sequences: list[str] = list(body.get("stop_sequences") or [])
        self._chat: dict[str, Any] | None = None

    def chat_call(self, call: Call) -> Call:
        if self._chat is None:
            self._chat = to_chat_request(self.body)
        return dataclasses.replace(call, body=self._chat)

    async def create(self, kind: ProviderKind, call: Call) -> bytes:
        call = dataclasses.replace(call, headers={**call.headers, **self.headers})
        native = await kind.messages(call)
        if native is not None:
            return native
        completion = answer_object(await kind.chat(self.chat_call(call)), call.provider.name)
        return orjson.dumps(to_message(completion, model=call.model.id, sequences=self.sequences))

    async def open_stream(self, kind: ProviderKind, call: Call) -> Opened:
        """Open the stream and wait for its first events, so early failures can fall back."""
        call = dataclasses.replace(call, headers={**call.headers, **self.headers})
        events = await kind.messages_stream(call)
        if events is None:
            chunks = await kind.chat_stream(self.chat_call(call))
            translator = EventTranslator(model=call.model.id, sequences=self.sequences)
            events = translated(chunks, translator, call.provider.name)
        try:
            first = await anext(events, b"")
        except GatewayError:
            await events.aclose()  # type: ignore[attr-defined]
            raise
        return first, events


async def translated(
    chunks: AsyncIterator[bytes], translator: EventTranslator, provider: str
) -> AsyncIterator[bytes]:
    """A kind's chat stream (framed chunks, `[DONE]` last) as Messages events."""
    try:
        async for item in chunks:
            out = b""
            for payload in payloads(item):
                if payload == b"[DONE]":
                    yield out + translator.end()
                    return
                out += translator.feed(_chunk(payload, provider))
            if out:
                yield out
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    yield translator.end()


def _chunk(payload: bytes, provider: str) -> Mapping[str, Any]:
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError:
        chunk = None
    if not isinstance(chunk, dict):
        raise UpstreamFailed(
            f"Provider '{provider}' sent a stream event we cannot read: {payload[:200]!r}"
        )
    return chunk


class CountTokens:
    """Passed through to a kind that counts (`anthropic`); otherwise an estimate when
    `count_tokens_estimate` is on, else a 400 that says so. Never a made-up count."""

    def __init__(self) -> None:
        self.body = BodySchema(COUNT_TOKENS_REQUEST)

    async def __call__(self, req: Request) -> Response:
        body = self.body(req)
        plan = plan_for(req, body, "chat")
        headers = forwarded(req.headers)

        async def count(kind: ProviderKind, call: Call) -> bytes | None:
            return await kind.count_tokens(
                dataclasses.replace(call, headers={**call.headers, **headers})
            )

        counted, served = await dispatch(req, plan, body, count, counts_failures=False)
        if counted is not None:
            return Response(counted, headers=served.headers())
        if not req.snapshot.settings.count_tokens_estimate:
            target = served.target
            raise InvalidRequest(
                f"Provider '{target.provider.name}' (kind {target.provider.kind}) cannot count "
                f"tokens for '{body['model']}'; only anthropic providers can. Set "
                "count_tokens_estimate: true in config/server.yaml for an estimate.",
                param="model",
                code="count_tokens_unsupported",
            )
        estimate = {"input_tokens": estimate_input_tokens(body)}
        return Response.json(estimate, headers={**served.headers(), "x-patchbay-estimate": "true"})
