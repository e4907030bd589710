"""POST /v1/embeddings: validate, resolve an embedding model, dispatch, relay."""

from __future__ import annotations

from engine.config.instance import instance_validator
from engine.dispatch import dispatch, plan_for
from engine.errors import InvalidRequest
from engine.handlers.schemas import EMBEDDINGS_REQUEST
from engine.http import Request, Response


class Embeddings:
    def __init__(self) -> None:
        self.check = instance_validator(EMBEDDINGS_REQUEST)

    async def __call__(self, req: Request) -> Response:
        body = req.json()
        problem = self.check(body)
        if problem is not None:
            raise InvalidRequest(problem[1], param=problem[0])
        plan = plan_for(req, body, "embedding")
        reply, served = await dispatch(req, plan, body, lambda kind, call: kind.embeddings(call))
        return Response(reply, headers=served.headers())
