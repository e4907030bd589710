"""Stored responses: kept on `store: true`, continued by `previous_response_id`, and read or
forgotten at GET and DELETE /v1/responses/{response_id}.

Where they are kept is `responses_store` in config/server.yaml (none, this worker's
memory, or the Redis at `redis_url`). A record holds the Response, the conversation
items that led to it and the provider that served it; its key names the client key that
asked for it, so a client reads, continues and deletes only its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson

from engine.errors import InvalidRequest, NotFound, ServiceUnavailable
from engine.http.messages import Request, Response
from engine.stores.base import ResponseStore, StoreUnavailable

log = logging.getLogger("patchbay.responses")

NO_STORE = (
    "set responses_store.backend to memory or redis in config/server.yaml "
    "(and send store: true), or send the whole conversation as input"
)


@dataclass(frozen=True, slots=True)
class Earlier:
    """A stored turn to continue: who served it, and every item so far (its output last)."""

    provider: str
    items: list[Any]


async def response_store(req: Request) -> ResponseStore | None:
    settings = req.snapshot.settings
    return await req.services.state.responses(settings.responses_store, settings.redis_url)


def _key(req: Request, response_id: str) -> str:
    owner = f"key:{req.client.name}" if req.client is not None else "anonymous"
    return f"patchbay:response:{owner}:{response_id}"


async def _load(req: Request, store: ResponseStore, response_id: str) -> dict[str, Any] | None:
    try:
        found = await store.get(_key(req, response_id))
    except StoreUnavailable as exc:
        raise ServiceUnavailable(
            f"The response store did not answer ({exc}).", code="response_store_unavailable"
        ) from None
    return orjson.loads(found) if found is not None else None


async def earlier_turn(req: Request, previous: Any, store: ResponseStore | None) -> Earlier | None:
    """The stored turn `previous_response_id` names; None when the request names none."""
    if previous is None:
        return None
    if store is None:
        raise InvalidRequest(
            f"previous_response_id needs a response store, and none is configured: {NO_STORE}.",
            param="previous_response_id",
            code="response_store_off",
        )
    record = await _load(req, store, str(previous))
    if record is None:
        raise InvalidRequest(
            f"Previous response with id '{previous}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return Earlier(record["provider"], [*record["items"], *record["response"]["output"]])


async def keep(
    req: Request, store: ResponseStore, provider: str, items: list[Any], response: dict[str, Any]
) -> None:
    """Store a finished Response; a store that fails costs the client its continuation only."""
    record = orjson.dumps({"provider": provider, "items": items, "response": response})
    ttl = req.snapshot.settings.responses_store.ttl
    try:
        await store.put(_key(req, str(response.get("id"))), record, ttl)
    except StoreUnavailable as exc:
        log.warning("response %s was not stored: %s", response.get("id"), exc)


async def _stored(req: Request) -> tuple[ResponseStore, str, dict[str, Any]]:
    store = await response_store(req)
    response_id = req.params["response_id"]
    if store is None:
        raise NotFound(f"Responses are not stored here: {NO_STORE}.", code="response_store_off")
    record = await _load(req, store, response_id)
    if record is None:
        raise NotFound(f"Response with id '{response_id}' not found.", param="response_id")
    return store, response_id, record


async def get_response(req: Request) -> Response:
    """GET /v1/responses/{response_id}: a stored Response of the asking client's."""
    _, _, record = await _stored(req)
    return Response.json(record["response"])


async def delete_response(req: Request) -> Response:
    """DELETE /v1/responses/{response_id}: forget a stored Response of the asking client's."""
    store, response_id, _ = await _stored(req)
    try:
        await store.delete(_key(req, response_id))
    except StoreUnavailable as exc:
        raise ServiceUnavailable(
            f"The response store did not answer ({exc}).", code="response_store_unavailable"
        ) from None
    return Response.json({"id": response_id, "object": "response", "deleted": True})
