"""A fake Azure OpenAI resource: deployments under /openai/deployments/{name}/, which
insist, as Azure does, on the key in an `api-key` header and an `api-version` query.

Errors have Azure's shape (`{"error": {"code": "401", "message": ...}}`): a missing or
wrong key is a 401, a request without a supported api-version or to an unknown
deployment a 404. Answers are OpenAI's chat completion (streamed too) and embeddings.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from tests.fakes import FakeUpstream

API_KEY = "azure-key-0123456789abcdef"
API_VERSIONS = frozenset({"2024-10-21", "2024-06-01"})


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class FakeAzureOpenAI(FakeUpstream):
    """One resource serving `deployments` (deployment name -> the model behind it)."""

    def __init__(self, deployments: dict[str, str] | None = None) -> None:
        super().__init__()
        self.deployments = deployments or {"gpt-4o": "gpt-4o-2024-08-06"}

    @property
    def endpoint(self) -> str:
        """What Azure calls the resource's endpoint: https://NAME.openai.azure.com."""
        return self.url

    def setup(self, app: web.Application) -> None:
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self.chat)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self.embeddings)

    def _refusal(self, request: web.Request) -> web.Response | None:
        """Azure's answer to a request it does not accept, or None."""
        if request.headers.get("api-key") != API_KEY:
            return _error(
                401,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure"
                " to provide a valid key for an active subscription and use a correct regional"
                " API endpoint for your resource.",
            )
        if request.query.get("api-version") not in API_VERSIONS:
            return _error(404, "404", "Resource not found")
        if request.match_info["deployment"] not in self.deployments:
            return _error(
                404,
                "DeploymentNotFound",
                "The API deployment for this resource does not exist.",
            )
        return None

    async def chat(self, request: web.Request) -> web.StreamResponse:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        body = await request.json()
        model = self.deployments[request.match_info["deployment"]]
        text = f"azure says: {body['messages'][-1]['content']}"
        if body.get("stream"):
            return await self._stream(request, model, text)
        return web.json_response(_completion(model, text))

    async def _stream(self, request: web.Request, model: str, text: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        head = {"id": "chatcmpl-azure", "object": "chat.completion.chunk", "created": 0}
        for delta, finish in (({"role": "assistant", "content": text}, None), ({}, "stop")):
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            chunk = {**head, "model": model, "choices": [choice]}
            await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        return resp

    async def embeddings(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        body = await request.json()
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": [0.5, 0.25]}
            for i in range(len(inputs))
        ]
        model = self.deployments[request.match_info["deployment"]]
        usage = {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}
        return web.json_response({"object": "list", "data": data, "model": model, "usage": usage})


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-azure",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
    }
