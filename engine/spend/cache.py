"""The response cache: complete answers kept per model and request, served again for free.

Opt-in per model or alias (providers.yaml `cache: {mode, ttl, shared}`; a Plan's
CacheRule). The key is a hash of the models the name resolves to and the request body
with every field that shapes the answer (provider-specific ones included), without the
transport-only `stream` and `stream_options`, scoped to the client key (by name, or
for a client without a configured key, by a hash of the credential it sent) unless
the rule is `shared`. Answers live in the worker's shared state (engine/stores):
memory, at most `cache_max_bytes`, least recently used out first; or Redis.

The request's `Cache-Control` has its say: `no-cache` skips the read, `no-store` the
write, `max-age=N` refuses a kept answer older than N seconds. Answers say
`x-patchbay-cache: HIT|MISS|BYPASS` (BYPASS: the cache was not read), a hit its `Age`.
Only complete answers are kept: chat answers whose every choice ended in `stop` or
`length` (a stream's once its `[DONE]` passed), never an error or a cut stream.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from engine.http.messages import Request, Response, Stream
from engine.snapshot.model import CacheRule, Plan
from engine.spend.chunks import COMPLETE, Assembler, replay
from engine.stores.base import Answers

TRANSPORT_FIELDS = frozenset({"stream", "stream_options", "model"})  # `model`: by its targets


@dataclass(frozen=True, slots=True)
class Directives:
    """The request's Cache-Control, as far as the cache heeds it."""

    no_cache: bool = False
    no_store: bool = False
    max_age: float | None = None


def directives(headers: Mapping[str, str]) -> Directives:
    no_cache = no_store = False
    max_age: float | None = None
    for part in headers.get("cache-control", "").lower().split(","):
        name, _, value = part.strip().partition("=")
        if name == "no-cache":
            no_cache = True
        elif name == "no-store":
            no_store = True
        elif name == "max-age" and value.strip().strip('"').isdigit():
            max_age = float(value.strip().strip('"'))
    return Directives(no_cache, no_store, max_age)


def cache_key(req: Request, plan: Plan, body: Mapping[str, Any], rule: CacheRule) -> str:
    """Everything that shapes the answer, and whose it is."""
    shaping = {k: v for k, v in body.items() if k not in TRANSPORT_FIELDS}
    targets = sorted(t.public_id for t in plan.targets)
    material = orjson.dumps([_scope(req, rule), targets, shaping], option=orjson.OPT_SORT_KEYS)
    return "patchbay:response:" + hashlib.sha256(material).hexdigest()


def _scope(req: Request, rule: CacheRule) -> str:
    if rule.shared:
        return "shared"
    if req.client is not None:
        return f"key:{req.client.name}"
    sent = req.headers.get("authorization", "") + "\n" + req.headers.get("x-api-key", "")
    return "credential:" + hashlib.sha256(sent.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Kept:
    """A stored answer: when, from whom, and its body as first sent."""

    at: float
    provider: str
    model: str
    body: bytes

    def encode(self) -> bytes:
        meta = {"at": self.at, "provider": self.provider, "model": self.model}
        return orjson.dumps(meta) + b"\n" + self.body

    @classmethod
    def decode(cls, raw: bytes) -> Kept | None:
        meta, _, body = raw.partition(b"\n")
        try:
            found = orjson.loads(meta)
            return cls(float(found["at"]), str(found["provider"]), str(found["model"]), body)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


class ResponseCache:
    """One request's use of the cache: `lookup` first, then `keep` the fresh answer."""

    def __init__(self, req: Request, plan: Plan, body: Mapping[str, Any], rule: CacheRule) -> None:
        self.asked = directives(req.headers)
        self.reads = rule.reads and not self.asked.no_cache
        self.writes = rule.writes and not self.asked.no_store
        self.ttl = rule.ttl
        self.key = cache_key(req, plan, body, rule)
        self.metrics = req.services.metrics.spend
        self.model = plan.name
        self.state = req.services.state
        self.settings = req.snapshot.settings
        self.clock = time.time

    @classmethod
    def open(cls, req: Request, plan: Plan, body: Mapping[str, Any]) -> ResponseCache | None:
        """The cache for this request, or None when its plan does not cache."""
        return cls(req, plan, body, plan.cache) if plan.cache is not None else None

    async def _store(self) -> Answers:
        return await self.state.response_cache(
            self.settings.redis_url, self.settings.cache_max_bytes
        )

    async def lookup(self) -> Kept | None:
        """The kept answer for this request, if it may be served; counts the lookup."""
        if not self.reads:
            self.metrics.cache(self.model, "BYPASS")
            return None
        raw = await (await self._store()).get(self.key)
        kept = Kept.decode(raw) if raw is not None else None
        if kept is not None and self.asked.max_age is not None:
            kept = kept if self.clock() - kept.at <= self.asked.max_age else None
        self.metrics.cache(self.model, "HIT" if kept is not None else "MISS")
        return kept

    def hit(self, kept: Kept, body: Mapping[str, Any]) -> Response | Stream:
        """The kept answer, as JSON or, for a streaming request, as a stream."""
        age = max(0, math.floor(self.clock() - kept.at))
        headers = {
            "x-patchbay-provider": kept.provider,
            "x-patchbay-model": kept.model,
            "x-patchbay-attempts": "0",
            "x-patchbay-cache": "HIT",
            "age": str(age),
        }
        if not body.get("stream"):
            return Response(kept.body, headers=headers, notes={"cache": "HIT"})
        options = body.get("stream_options") or {}
        events = replay(orjson.loads(kept.body), bool(options.get("include_usage")))
        return Stream(events, _nothing(), headers=headers, notes={"cache": "HIT"})

    async def keep(self, reply: Response | Stream, *, chat: bool) -> None:
        """Mark a fresh answer MISS or BYPASS, and keep it once it is complete."""
        status = "MISS" if self.reads else "BYPASS"
        reply.headers["x-patchbay-cache"] = reply.notes["cache"] = status
        if not self.writes:
            return
        if isinstance(reply, Response):
            if _complete(reply.body, chat):
                await self._put(reply.headers, reply.body)
            return
        assembler = Assembler()
        assembler.feed(reply.head)
        if not assembler.done:
            reply.events = self._assembling(reply.events, reply.headers, assembler)
        elif (answer := assembler.completion()) is not None:
            await self._put(reply.headers, answer)  # it all came in the first read

    async def _assembling(
        self, events: AsyncIterator[bytes], headers: Mapping[str, str], assembler: Assembler
    ) -> AsyncIterator[bytes]:
        try:
            async for item in events:
                assembler.feed(item)
                if assembler.done and (answer := assembler.completion()) is not None:
                    await self._put(headers, answer)  # before the client sees the end
                yield item
        finally:
            await events.aclose()  # type: ignore[attr-defined]

    async def _put(self, headers: Mapping[str, str], body: bytes) -> None:
        kept = Kept(self.clock(), headers["x-patchbay-provider"], headers["x-patchbay-model"], body)
        await (await self._store()).put(self.key, kept.encode(), self.ttl)


def _complete(body: bytes, chat: bool) -> bool:
    """A whole answer: every chat choice ended in stop or length; embeddings with data."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(answer, dict) or "error" in answer:
        return False
    if not chat:
        return isinstance(answer.get("data"), list)
    choices = answer.get("choices")
    return (
        isinstance(choices, list)
        and bool(choices)
        and all(isinstance(c, dict) and c.get("finish_reason") in COMPLETE for c in choices)
    )


async def _nothing() -> AsyncIterator[bytes]:
    """The events of a stream that is all in its head."""
    return
    yield  # pragma: no cover - makes this an async generator
