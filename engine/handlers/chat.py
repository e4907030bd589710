"""POST /v1/chat/completions: validate, resolve, dispatch, relay (JSON or SSE).

A stream's usage is always asked for (unless the serving provider says
`stream_usage: false`), so its cost is known; a client that did not ask for it does
not see it (engine/spend/chunks.py). Plans with a `cache:` rule answer from the
response cache when they can (engine/spend/cache.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from engine.errors import GatewayError
from engine.handlers.body import BodySchema
from engine.handlers.schemas import CHAT_REQUEST
from engine.handlers.search import grounded
from engine.http.messages import Request, Response, Stream
from engine.providers.base import Call, ProviderKind
from engine.routing.dispatch import dispatch, plan_for
from engine.search.grounding import wants_search
from engine.snapshot.model import Plan
from engine.spend.cache import ResponseCache
from engine.spend.chunks import without_usage


class ChatCompletions:
    """The handler; the request schema is compiled once, at import of the handler table."""

    def __init__(self) -> None:
        self.body = BodySchema(CHAT_REQUEST)

    async def __call__(self, req: Request) -> Response | Stream:
        body = self.body(req)
        plan = plan_for(req, body, "chat")
        if wants_search(plan.search, body):  # web_search_options, or an alias with `search:`
            return await grounded(req, plan, body, _answer)
        return await _answer(req, plan, body)


async def _answer(req: Request, plan: Plan, body: dict[str, Any]) -> Response | Stream:
    cache = ResponseCache.open(req, plan, body)
    if cache is not None and (kept := await cache.lookup()) is not None:
        return cache.hit(kept, body)
    reply = await _dispatched(req, plan, body)
    if cache is not None:
        await cache.keep(reply, chat=True)  # a stream is kept with its usage, if it has one
    if isinstance(reply, Stream) and not _asked_usage(body):
        reply.edit = without_usage  # read by the guard, kept from the client
    return reply


def _asked_usage(body: dict[str, Any]) -> bool:
    return bool((body.get("stream_options") or {}).get("include_usage"))


async def _dispatched(req: Request, plan: Plan, body: dict[str, Any]) -> Response | Stream:
    if not body.get("stream"):
        reply, served = await dispatch(req, plan, body, lambda kind, call: kind.chat(call))
        return Response(reply, headers=served.headers())
    opener = _open_stream if _asked_usage(body) else _open_stream_with_usage
    (first, rest), served = await dispatch(req, plan, body, opener)
    return Stream(first, rest, headers=served.headers())


async def _open_stream_with_usage(
    kind: ProviderKind, call: Call
) -> tuple[bytes, AsyncIterator[bytes]]:
    """`_open_stream`, asking the upstream for the stream's usage on the client's behalf."""
    if call.provider.stream_usage:
        options = {**(call.body.get("stream_options") or {}), "include_usage": True}
        body = {**call.body, "stream_options": options}
        call = Call(call.upstream, call.provider, call.model, body)
    return await _open_stream(kind, call)


async def _open_stream(kind: ProviderKind, call: Call) -> tuple[bytes, AsyncIterator[bytes]]:
    """Open the upstream stream and wait for its first events, so early failures can fall back."""
    events = await kind.chat_stream(call)
    try:
        first = await anext(events, b"")
    except GatewayError:
        await events.aclose()  # type: ignore[attr-defined]
        raise
    return first, events
