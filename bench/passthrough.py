"""The floor to beat: a bare Quart + Hypercorn (uvloop) passthrough, one worker.

It is the naive design of an OpenAI-compatible gateway with no features at all:
`POST /v1/chat/completions` parses the JSON body (to see whether a stream is asked
for), forwards the original bytes to the upstream over one aiohttp session, and
relays the answer, chunk by chunk when streaming. Nothing is validated, routed,
logged or counted.

Run: python bench/passthrough.py --port 9001 --upstream http://127.0.0.1:9000/v1
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from quart import Quart, Response, request
from serving import serve_relay


def create_app(upstream: str) -> Quart:
    """A Quart app that relays chat completions to `upstream` (a base URL ending in /v1)."""
    app = Quart(__name__)
    sessions: list[aiohttp.ClientSession] = []
    target = upstream.rstrip("/") + "/chat/completions"

    @app.before_serving
    async def open_session() -> None:
        sessions.append(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)))

    @app.after_serving
    async def close_session() -> None:
        for session in sessions:
            await session.close()

    @app.post("/v1/chat/completions")
    async def chat_completions() -> Response:
        body = await request.get_data()
        payload = await request.get_json()
        answer = await sessions[0].post(
            target, data=body, headers={"Content-Type": "application/json"}
        )
        content_type = answer.headers.get("Content-Type", "application/json")
        if payload.get("stream"):
            return Response(_relay(answer), status=answer.status, content_type=content_type)
        data = await answer.read()
        return Response(data, status=answer.status, content_type=content_type)

    return app


async def _relay(answer: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in answer.content.iter_any():
            yield chunk
    finally:
        answer.release()


if __name__ == "__main__":
    serve_relay(create_app, __doc__.splitlines()[0], default_port=9001)
