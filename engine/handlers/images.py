"""POST /v1/images/generations: `n`, `size`, `response_format` url or b64_json, extras.

When a client asks for b64_json and the upstream only hands out URLs, Patchbay fetches
the images itself, through the guarded fetch (public addresses only, unless the
provider is declared `local`; size and time caps; each redirect re-checked).
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from engine.errors import UpstreamFailed
from engine.handlers.body import BodySchema
from engine.handlers.schemas import IMAGES_REQUEST
from engine.http.messages import Request, Response
from engine.providers.base import Call, ProviderKind
from engine.routing.dispatch import dispatch, plan_for


class ImageGenerations:
    def __init__(self) -> None:
        self.body = BodySchema(IMAGES_REQUEST)

    async def __call__(self, req: Request) -> Response:
        body = self.body(req)
        body.setdefault("model", "auto")
        plan = plan_for(req, body, "image")
        reply, served = await dispatch(req, plan, body, _generate)
        return Response(reply, headers=served.headers())


async def _generate(kind: ProviderKind, call: Call) -> bytes:
    reply = await kind.images(call)
    if call.body.get("response_format") != "b64_json":
        return reply
    try:
        answer: dict[str, Any] = orjson.loads(reply)
        items = answer["data"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise UpstreamFailed(f"Provider '{call.provider.name}' sent no image data.") from None
    if all("b64_json" in item for item in items):
        return reply
    for item in items:
        if "b64_json" not in item and "url" in item:
            image = await call.upstream.fetch_image(
                item.pop("url"), allow_private=call.provider.local, provider=call.provider.name
            )
            item["b64_json"] = base64.b64encode(image).decode()
    return orjson.dumps(answer)
