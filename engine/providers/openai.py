"""The `openai` kind: any OpenAI-compatible upstream. Bytes are relayed, not rebuilt."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from engine.formats.multipart import Form
from engine.formats.sse import DONE, DONE_MARKERS, blocks, is_done, is_error, payloads
from engine.providers.base import (
    BEARER,
    Call,
    Provider,
    ProviderKind,
    Relayed,
    model_ids,
    overlay,
    request_headers,
)
from engine.upstream.client import Upstream, UpstreamResponse, upstream_error_from_event


class OpenAICompatible(ProviderKind):
    """OpenAI, Groq, OpenRouter, Together, DeepSeek, Mistral, Ollama, vLLM, llama.cpp, ...

    With `responses: native` the upstream is also asked `POST /responses` as it is.
    """

    name = "openai"
    reasoning_effort = True

    def __init__(self, provider: Provider) -> None:
        super().__init__(provider)
        # Built once per snapshot: the same for every request to this provider.
        base = {"Content-Type": "application/json", "Accept": "application/json"}
        self._headers = provider.fixed_headers(base, BEARER)

    def headers(self) -> Mapping[str, str]:
        return self._headers

    async def _post(self, call: Call, path: str, body: dict[str, Any]) -> UpstreamResponse:
        return await call.upstream.open(
            "POST",
            self.provider.with_query(self.provider.base_url + path),
            provider=self.provider.name,
            headers=request_headers(self._headers, call),
            body=orjson.dumps(body),
            timeout=self.provider.timeout,
            secret=self.provider.api_key,
        )

    async def chat(self, call: Call) -> bytes:
        resp = await self._post(call, "/chat/completions", {**call.body, "model": call.model.id})
        return await resp.read()

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        resp = await self._post(call, "/chat/completions", {**call.body, "model": call.model.id})
        return relay_openai_stream(resp, self.provider)

    async def embeddings(self, call: Call) -> bytes:
        resp = await self._post(call, "/embeddings", {**call.body, "model": call.model.id})
        return await resp.read()

    async def images(self, call: Call) -> bytes:
        resp = await self._post(call, "/images/generations", {**call.body, "model": call.model.id})
        return await resp.read()

    async def speech(self, call: Call) -> Relayed:
        headers = overlay(request_headers(self._headers, call), {"Accept": "*/*"})
        resp = await call.upstream.open(
            "POST",
            self.provider.with_query(self.provider.base_url + "/audio/speech"),
            provider=self.provider.name,
            headers=headers,
            body=orjson.dumps({**call.body, "model": call.model.id}),
            timeout=self.provider.timeout,
            secret=self.provider.api_key,
        )
        return _relayed(resp)

    async def transcription(self, call: Call, form: Form, task: str) -> Relayed:
        replace = {"model": call.model.id}
        sent = {
            "Content-Type": form.content_type,
            "Content-Length": str(form.length(replace)),
            "Accept": "*/*",
        }
        resp = await call.upstream.open(
            "POST",
            self.provider.with_query(f"{self.provider.base_url}/audio/{task}"),
            provider=self.provider.name,
            headers=overlay(request_headers(self._headers, call), sent),
            body=form.encode(replace),
            timeout=self.provider.timeout,
            secret=self.provider.api_key,
        )
        return _relayed(resp)

    @property
    def speaks_responses(self) -> bool:
        return self.provider.options.get("responses") == "native"

    async def responses(self, call: Call) -> bytes:
        if not self.speaks_responses:
            return await super().responses(call)
        resp = await self._post(call, "/responses", {**call.body, "model": call.model.id})
        return await resp.read()

    async def responses_stream(self, call: Call) -> AsyncIterator[bytes]:
        if not self.speaks_responses:
            return await super().responses_stream(call)
        resp = await self._post(call, "/responses", {**call.body, "model": call.model.id})
        return relay_events(resp)

    async def discover_models(self, upstream: Upstream) -> list[str]:
        resp = await upstream.open(
            "GET",
            self.provider.with_query(self.provider.base_url + "/models"),
            provider=self.provider.name,
            headers=self.headers(),
            timeout=self.provider.timeout,
            secret=self.provider.api_key,
        )
        return model_ids(await resp.json(), self.provider.name)


async def relay_openai_stream(resp: UpstreamResponse, provider: Provider) -> AsyncIterator[bytes]:
    """Relay an OpenAI-format SSE stream as it comes: one write per upstream read.

    Events pass through untouched. The upstream's `[DONE]` goes out with the events
    read with it, so the stream's end costs no write of its own; a stream that ends
    without one still gets it. An error event becomes the mapped GatewayError.
    """
    try:
        while events := await resp.next_events():
            if b"error" not in events:  # the common case: no event needs a closer look
                done = _done_at(events)
                if done < 0:
                    yield events
                    continue
                await resp.finish()  # first: a client that saw [DONE] may hang up
                yield events if events[done:] == DONE else events[:done] + DONE
                return
            out: list[bytes] = []
            for block in blocks(events):
                if is_done(block):
                    await resp.finish()
                    yield b"".join(out) + DONE
                    return
                if is_error(block):
                    if out:
                        yield b"".join(out)
                    data = b"\n".join(payloads(block + b"\n\n")) or block
                    raise upstream_error_from_event(provider.name, data, provider.api_key)
                out.append(block + b"\n\n")
            if out:
                yield b"".join(out)
    finally:
        resp.close()  # at once when the client left; a finished body stays pooled
    yield DONE


async def relay_events(resp: UpstreamResponse) -> AsyncIterator[bytes]:
    """Relay whole SSE events untouched until the body ends (Responses streams have no
    `[DONE]`); the connection is dropped at once if the client leaves first."""
    try:
        while events := await resp.next_events():
            yield events
    finally:
        resp.close()


def _relayed(resp: UpstreamResponse) -> Relayed:
    """An audio answer as it comes: whole events for an event stream, else raw bytes."""
    content_type = resp.headers.get("Content-Type", "application/octet-stream")
    if content_type.startswith("text/event-stream"):
        return Relayed(content_type, relay_events(resp))
    return Relayed(content_type, resp.chunks())


def _done_at(events: bytes) -> int:
    """Where the `data: [DONE]` event starts in whole events (either spacing), or -1.

    Only an event of its own counts: a model may write the same text, which then sits
    inside a JSON string.
    """
    at = events.find(b"[DONE]")
    while at >= 0:
        blank = events.rfind(b"\n\n", 0, at)
        start = blank + 2 if blank >= 0 else 0
        if events.startswith(DONE_MARKERS, start):
            return start
        at = events.find(b"[DONE]", at + 6)
    return -1
