"""POST /v1/responses: OpenAI's Responses API over every provider.

A provider declared `responses: native` is asked as it is and its answer relayed. Any
other target gets the request as chat completions (engine/formats/responses_input.py)
and its answer back as a Response, or as the Responses event stream
(engine/formats/responses_stream.py). Dispatch is chat's: retries, fallback, cooldowns.
With a response store, `store: true` keeps the answer and `previous_response_id`
continues a kept conversation on the provider that served it
(engine/handlers/stored_responses.py).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from engine.errors import GatewayError, UpstreamFailed
from engine.formats.responses import Json, ResponseHead, from_chat_completion, new_id
from engine.formats.responses_input import input_items, reasoning_effort, to_chat_request
from engine.formats.responses_stream import NativeEvents, ResponseEvents
from engine.handlers.body import BodySchema
from engine.handlers.schemas import RESPONSES_REQUEST
from engine.handlers.stored_responses import earlier_turn, keep, response_store
from engine.http.messages import Request, Response, Stream
from engine.providers.base import Call, ProviderKind, answer_object
from engine.routing.dispatch import dispatch, plan_for
from engine.snapshot.model import Plan, Target
from engine.stores.base import ResponseStore


class CreateResponse:
    """The handler; the request schema is compiled once, at import of the handler table."""

    def __init__(self) -> None:
        self.body = BodySchema(RESPONSES_REQUEST)

    async def __call__(self, req: Request) -> Response | Stream:
        body = self.body(req)
        plan = plan_for(req, body, "chat")  # an unknown model is a 404 before anything else
        store = await response_store(req)
        earlier = await earlier_turn(req, body.get("previous_response_id"), store)
        history = earlier.items if earlier is not None else []
        if earlier is not None:
            plan = _pinned(plan, earlier.provider)
        kept = store if body.get("store") is True else None
        turn = Turn(req, body, [*history, *input_items(body)], len(history), plan, kept is not None)
        if not body.get("stream"):
            response, served = await dispatch(req, plan, body, turn.answer)
            if kept is not None:
                await keep(req, kept, served.target.provider.name, turn.items, response)
            return Response.json(response, headers=served.headers())
        opened, served = await dispatch(req, plan, body, turn.open_stream)
        head, events = await turn.relay(opened, served.target, kept)
        return Stream(head, events, headers=served.headers())


def _pinned(plan: Plan, provider: str) -> Plan:
    """The plan's targets at `provider` (a continued conversation stays where it began);
    the whole plan when the model asked for is not served there."""
    there = [
        (t, w)
        for t, w in zip(plan.targets, plan.weights, strict=True)
        if t.provider.name == provider
    ]
    if not there:
        return plan
    return dataclasses.replace(
        plan, targets=tuple(t for t, _ in there), weights=tuple(w for _, w in there)
    )


@dataclass(slots=True)
class Opened:
    """A stream that answered: its first events, the rest, and whether they are the
    upstream's own Responses events."""

    first: bytes
    rest: AsyncIterator[bytes]
    native: bool


class Turn:
    """One request: its conversation items, the chat request they make (when some
    target needs it), and the dispatch operations for JSON and streams."""

    def __init__(
        self,
        req: Request,
        body: dict[str, Any],
        items: list[Any],
        earlier: int,
        plan: Plan,
        stored: bool,
    ) -> None:
        self.req = req
        self.body = body
        self.items = items
        self.store = stored  # what a translated Response says of itself
        self.created_at = int(time.time())
        self.id = new_id("resp")
        # Translated once, up front, so a request no target can take is a 400 at once.
        translated = any(not t.adapter.speaks_responses for t in plan.targets)
        self.chat = to_chat_request(body, items, earlier) if translated else None

    def head(self, model: str) -> ResponseHead:
        return ResponseHead(self.id, self.created_at, model, self.body, self.store)

    def _native(self) -> dict[str, Any]:
        """The request a native upstream gets: the conversation spelled out (our store's
        ids mean nothing there), and `store` as the client said, else false."""
        native = {k: v for k, v in self.body.items() if k != "previous_response_id"}
        return {**native, "input": self.items, "store": self.body.get("store") is True}

    def _chat(self, kind: ProviderKind) -> dict[str, Any]:
        assert self.chat is not None  # built whenever a target is not native
        effort = reasoning_effort(self.body)
        if effort is not None and kind.reasoning_effort:
            return {**self.chat, "reasoning_effort": effort}
        return self.chat

    async def answer(self, kind: ProviderKind, call: Call) -> Json:
        """The Response of one target."""
        provider = call.provider.name
        if kind.speaks_responses:
            raw = await kind.responses(dataclasses.replace(call, body=self._native()))
            response = answer_object(raw, provider)
            if not isinstance(response.get("output"), list):
                raise UpstreamFailed(f"Provider '{provider}' sent a Response without output.")
            return response
        raw = await kind.chat(dataclasses.replace(call, body=self._chat(kind)))
        return from_chat_completion(
            answer_object(raw, provider), self.head(call.model.id), provider
        )

    async def open_stream(self, kind: ProviderKind, call: Call) -> Opened:
        """Open one target's stream and wait for its first events (early failures fall back)."""
        if kind.speaks_responses:
            events = await kind.responses_stream(dataclasses.replace(call, body=self._native()))
        else:
            events = await kind.chat_stream(dataclasses.replace(call, body=self._chat(kind)))
        try:
            first = await anext(events, b"")
        except GatewayError:
            await events.aclose()  # type: ignore[attr-defined]
            raise
        return Opened(first, events, kind.speaks_responses)

    async def relay(
        self, opened: Opened, target: Target, store: ResponseStore | None
    ) -> tuple[bytes, AsyncIterator[bytes]]:
        """The stream's head (already here) and the events after it."""
        provider = target.provider.name
        if opened.native:
            tap = NativeEvents()
            tap.see(opened.first)
            if tap.response is not None and store is not None:  # all of it came at once
                await keep(self.req, store, provider, self.items, tap.response)
                store = None
            return opened.first, self._native_events(tap, opened, provider, store)
        events = ResponseEvents(self.head(target.model.id), provider)
        try:
            head = events.start() + events.feed(opened.first)
        except GatewayError:
            await opened.rest.aclose()  # type: ignore[attr-defined]
            raise
        return head, self._translated(events, opened, provider, store)

    async def _translated(
        self, events: ResponseEvents, opened: Opened, provider: str, store: ResponseStore | None
    ) -> AsyncIterator[bytes]:
        try:
            async for item in opened.rest:
                if out := events.feed(item):
                    yield out
            tail = events.close()
        except GatewayError as err:
            yield events.fail(err)
            return
        finally:
            await opened.rest.aclose()  # type: ignore[attr-defined]
        if store is not None and events.response is not None:
            # Kept before the client hears it is complete, so it can continue at once.
            await keep(self.req, store, provider, self.items, events.response)
        yield tail

    async def _native_events(
        self, tap: NativeEvents, opened: Opened, provider: str, store: ResponseStore | None
    ) -> AsyncIterator[bytes]:
        try:
            async for item in opened.rest:
                tap.see(item)
                if tap.response is not None and store is not None:
                    await keep(self.req, store, provider, self.items, tap.response)
                    store = None
                yield item
        except GatewayError as err:
            yield tap.fail(err)
        finally:
            await opened.rest.aclose()  # type: ignore[attr-defined]
