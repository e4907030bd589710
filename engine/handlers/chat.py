"""POST /v1/chat/completions: validate, resolve, dispatch, relay (JSON or SSE)."""

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
    if not body.get("stream"):
        reply, served = await dispatch(req, plan, body, lambda kind, call: kind.chat(call))
        return Response(reply, headers=served.headers())
    (first, rest), served = await dispatch(req, plan, body, _open_stream)
    return Stream(first, rest, headers=served.headers())


async def _open_stream(kind: ProviderKind, call: Call) -> tuple[bytes, AsyncIterator[bytes]]:
    """Open the upstream stream and wait for its first events, so early failures can fall back."""
    events = await kind.chat_stream(call)
    try:
        first = await anext(events, b"")
    except GatewayError:
        await events.aclose()  # type: ignore[attr-defined]
        raise
    return first, events
