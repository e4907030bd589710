"""POST /v1/embeddings: validate, resolve an embedding model, dispatch, relay; plans with
a `cache:` rule answer from the response cache when they can (engine/spend/cache.py)."""

from __future__ import annotations

from engine.handlers.body import BodySchema
from engine.handlers.schemas import EMBEDDINGS_REQUEST
from engine.http.messages import Request, Response, Stream
from engine.routing.dispatch import dispatch, plan_for
from engine.spend.cache import ResponseCache


class Embeddings:
    def __init__(self) -> None:
        self.body = BodySchema(EMBEDDINGS_REQUEST)

    async def __call__(self, req: Request) -> Response | Stream:
        body = self.body(req)
        plan = plan_for(req, body, "embedding")
        cache = ResponseCache.open(req, plan, body)
        if cache is not None and (kept := await cache.lookup()) is not None:
            return cache.hit(kept, body)
        answer, served = await dispatch(req, plan, body, lambda kind, call: kind.embeddings(call))
        reply = Response(answer, headers=served.headers())
        if cache is not None:
            await cache.keep(reply, chat=False)
        return reply
