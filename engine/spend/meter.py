"""Settle every answer a model gave: its cost, the key's budgets, the ledger, metrics.

The guard hands each reply here. A reply names the model that served it in its
`x-patchbay-provider` and `x-patchbay-model` headers (every dispatched answer does),
and its usage is read in the route's wire format (engine/formats/tally.py). A JSON
answer is settled before it is sent and says `x-patchbay-cost`; a stream is settled
when it ends, however it ends, from its usage event (which the client may not get,
see engine/http/messages.py `Stream.edit`), else from an estimate. An
answer from the response cache costs nothing and counts no tokens.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import NamedTuple

from engine.formats import WireFormat
from engine.formats.sse import DONE
from engine.formats.tally import AnswerUsage, StreamTally
from engine.formats.usage import Usage
from engine.http.messages import Request, Response, Stream
from engine.observe.exchange import Tokens
from engine.providers.base import Model
from engine.providers.prices import nano, usd
from engine.spend.budgets import Allowance, Budgets
from engine.spend.ledger import Books, Entry

TokenCharge = Callable[[int], Awaitable[None]]  # tokens for the key's per-minute limit


class Served(NamedTuple):
    """Who served an answer, as its headers say; `model` is None when the live snapshot
    no longer has it (its price is then unknown)."""

    provider: str
    model_id: str
    model: Model | None

    @property
    def public_id(self) -> str:
        return f"{self.provider}/{self.model_id}"


def served_by(req: Request, headers: dict[str, str]) -> Served | None:
    provider, model_id = headers.get("x-patchbay-provider"), headers.get("x-patchbay-model")
    if provider is None or model_id is None:
        return None  # not a model's answer (a search, a listing, an error)
    found = req.snapshot.providers.get(provider)
    return Served(provider, model_id, found.models.get(model_id) if found else None)


class Meter:
    """Settles replies; lives as long as the worker."""

    def __init__(self, budgets: Budgets, clock: Callable[[], float] = time.time) -> None:
        self.budgets = budgets
        self.clock = clock
        self.books = Books()

    async def settle(
        self,
        req: Request,
        reply: Response | Stream,
        wire: WireFormat,
        *,
        allowance: Allowance | None = None,
        tokens: TokenCharge | None = None,
    ) -> Response | Stream:
        served = served_by(req, reply.headers)
        if served is None:
            return reply
        if isinstance(reply, Response):
            await self._settle_answer(req, reply, served, wire, allowance, tokens)
            return reply
        if allowance is not None:
            reply.headers["x-patchbay-key-spend"] = allowance.spent()
        tally = StreamTally(req.body, wire)
        if not reply.raw:  # audio carries no usage: only the request's estimate counts
            tally.see(reply.head)

        async def settle() -> None:
            await self._settle_stream(req, reply, served, tally, allowance, tokens)

        if reply.raw or reply.head.endswith(DONE):  # the events will not be read for usage
            await settle()
        else:
            reply.events = Metered(reply.events, tally, settle)
        return reply

    async def _settle_answer(
        self,
        req: Request,
        reply: Response,
        served: Served,
        wire: WireFormat,
        allowance: Allowance | None,
        tokens: TokenCharge | None,
    ) -> None:
        hit = reply.headers.get("x-patchbay-cache") == "HIT"
        read = AnswerUsage.of(reply.body, wire) if not hit else None
        usage = read.usage if read is not None else None
        cost = 0.0 if hit else _cost(served, usage)
        await self._book(req, reply, served, usage, cost, hit)
        reply.headers["x-patchbay-cost"] = reply.notes["cost"]
        if allowance is not None:
            charged = nano(cost or 0.0)
            reply.headers["x-patchbay-key-spend"] = allowance.spent(charged, served.provider)
        if tokens is not None and read is not None and (counted := read.tokens):
            await tokens(counted)

    async def _settle_stream(
        self,
        req: Request,
        reply: Stream,
        served: Served,
        tally: StreamTally,
        allowance: Allowance | None,
        tokens: TokenCharge | None,
    ) -> None:
        hit = reply.headers.get("x-patchbay-cache") == "HIT"
        usage = tally.usage
        if usage is None and not hit:
            usage = tally.estimate()
            reply.notes["usage"] = "estimated"
        cost = 0.0 if hit else _cost(served, usage)
        await self._book(req, reply, served, usage, cost, hit)
        if tokens is not None and usage is not None and not hit:
            await tokens(tally.tokens)

    async def _book(
        self,
        req: Request,
        reply: Response | Stream,
        served: Served,
        usage: Usage | None,
        cost: float | None,
        hit: bool,
    ) -> None:
        """Record the answer in the ledger, the metrics and the key's budgets."""
        key = req.client
        settings = req.snapshot.settings
        if usage is not None and not hit:
            _count_tokens(req.exchange.tokens, usage, reply.notes.get("usage") == "estimated")
        entry = Entry(key.name if key else None, served.public_id, usage, cost, hit)
        if settings.auth.admin_key or settings.auth.keys:  # else no one may read the ledger
            ledger = await req.services.state.ledger(settings.redis_url)
            await self.books.record(ledger, entry, self.clock())
        reply.notes["cost"] = "null" if cost is None else usd(cost)
        if key is not None:
            reply.notes["key"] = key.name
        if cost:
            req.services.metrics.spend.cost(served.provider, served.model_id, entry.key, cost)
            if key is not None and key.budgets:  # also when the standing could not be read
                await self.budgets.charge(key, served.provider, nano(cost), settings.redis_url)


def _count_tokens(tokens: Tokens, usage: Usage, estimated: bool) -> None:
    tokens.prompt = usage.input_tokens
    tokens.completion = usage.output_tokens
    tokens.cached = usage.cached_input_tokens
    tokens.reasoning = usage.reasoning_output_tokens
    tokens.estimated = estimated


def _cost(served: Served, usage: Usage | None) -> float | None:
    """Dollars for `usage` at the served model's price; None when either is unknown."""
    price = served.model.price if served.model is not None else None
    if price is None or usage is None:
        return None
    return price.cost(usage)


class Metered:
    """A stream's events, read by the tally as they pass; `settle` runs once, when the
    `[DONE]` goes out (before the client can send its next request), when the events
    end, or when the stream is closed (a client that left, a failure)."""

    def __init__(
        self,
        events: AsyncIterator[bytes],
        tally: StreamTally,
        settle: Callable[[], Awaitable[None]],
    ) -> None:
        self._events = events
        self._tally = tally
        self._settle: Callable[[], Awaitable[None]] | None = settle

    def __aiter__(self) -> Metered:
        return self

    async def __anext__(self) -> bytes:
        try:
            item = await anext(self._events)
        except StopAsyncIteration:
            await self._settled()
            raise
        self._tally.see(item)
        if item.endswith(DONE):
            await self._settled()
        return item

    async def aclose(self) -> None:
        try:
            await self._events.aclose()  # type: ignore[attr-defined]
        finally:
            await self._settled()

    async def _settled(self) -> None:
        settle, self._settle = self._settle, None
        if settle is not None:
            await settle()
