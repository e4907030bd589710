"""POST /v1/embeddings: validate, resolve an embedding model, dispatch, relay."""

from __future__ import annotations

from engine.handlers.body import BodySchema
from engine.handlers.schemas import EMBEDDINGS_REQUEST
from engine.http.messages import Request, Response
from engine.routing.dispatch import dispatch, plan_for


class Embeddings:
    def __init__(self) -> None:
        self.body = BodySchema(EMBEDDINGS_REQUEST)

    async def __call__(self, req: Request) -> Response:
        body = self.body(req)
        plan = plan_for(req, body, "embedding")
        reply, served = await dispatch(req, plan, body, lambda kind, call: kind.embeddings(call))
        return Response(reply, headers=served.headers())
