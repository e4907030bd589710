"""The `anthropic` kind: Anthropic's native Messages API behind OpenAI's chat completions.

Request and response shapes are translated in `anthropic_wire`; this module holds the
adapter, the mapping of Anthropic's error types, and `ChunkTranslator`, the small state
machine that turns Messages stream events into `chat.completion.chunk` dicts.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from engine.errors import GatewayError, RateLimited, UpstreamFailed, UpstreamRejected
from engine.formats.anthropic import FORWARDED_HEADERS
from engine.formats.sse import DONE, frame
from engine.providers.anthropic_native import MessagesRelay, relay_messages
from engine.providers.anthropic_wire import (
    ANTHROPIC_VERSION,
    JSON_TOOL,
    Json,
    finish_reason,
    json_answer_tool,
    to_chat_completion,
    to_messages_request,
    unwrap_json_answer,
    usage,
)
from engine.providers.base import (
    Call,
    Provider,
    ProviderKind,
    UpstreamAuth,
    model_ids,
    overlay,
    request_headers,
)
from engine.upstream.client import Upstream, UpstreamResponse

DEFAULT_BASE_URL = "https://api.anthropic.com/v1"
X_API_KEY = UpstreamAuth(header="x-api-key", scheme="")

# Anthropic error type -> HTTP status it stands for (as documented for non-stream answers).
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def stream_error(provider: str, data: Mapping[str, Any], secret: str | None) -> GatewayError:
    """The GatewayError for a mid-stream `error` event, mapped by Anthropic's error type."""
    error = data["error"] if isinstance(data.get("error"), dict) else data
    kind = str(error.get("type") or "api_error")
    message = str(error.get("message") or kind)
    if secret:
        message = message.replace(secret, "***")
    return error_for_status(
        ERROR_STATUS.get(kind, 500), f"Provider '{provider}' failed mid-stream: {message} ({kind})"
    )


def error_for_status(status: int, text: str) -> GatewayError:
    """Anthropic's statuses in the GatewayError tree; 529 (overloaded) is a 503."""
    if status == 429:
        return RateLimited(text, headers={"Retry-After": "1"})
    if status == 529:
        return UpstreamFailed(text, status=503, code="upstream_overloaded")
    if 400 <= status < 500:
        return UpstreamRejected(text, status=status)
    return UpstreamFailed(text)


class ChunkTranslator:
    """Feed Messages stream events in order; get the OpenAI chunks each one stands for.

    Tool calls are numbered 0, 1, ... among tool calls only, whatever their content-block
    index. An `error` event raises the mapped GatewayError.
    """

    def __init__(
        self,
        *,
        model: str,
        created: int,
        include_usage: bool = False,
        json_answer: bool = False,
        provider: str = "anthropic",
        secret: str | None = None,
    ) -> None:
        self.model = model
        self.created = created
        self.include_usage = include_usage
        self.json_answer = json_answer
        self.provider = provider
        self._secret = secret
        self.id = "chatcmpl-"
        self.done = False
        self._tool_index: dict[int, int] = {}
        self._json_blocks: set[int] = set()  # JSON-mode tool calls, streamed as content
        self._usage: dict[str, Any] = {}

    def feed(self, data: Mapping[str, Any]) -> list[Json]:
        kind = data.get("type")
        if kind == "message_start":
            message = data.get("message") or {}
            self.id = f"chatcmpl-{message.get('id', '')}"
            self._count(message.get("usage"))
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(int(data.get("index", 0)), data.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(int(data.get("index", 0)), data.get("delta") or {})
        if kind == "message_delta":
            self._count(data.get("usage"))
            reason = (data.get("delta") or {}).get("stop_reason")
            if self.json_answer and reason == "tool_use":
                reason = "end_turn"
            return [self._chunk({}, finish_reason(reason))]
        if kind == "message_stop":
            self.done = True
            return [self._usage_chunk()] if self.include_usage else []
        if kind == "error":
            raise stream_error(self.provider, data, self._secret)
        # ping, content_block_stop, and event types added later carry nothing for OpenAI.
        return []

    def finish(self) -> None:
        """Call when the upstream stream ended; a stream cut short is an upstream failure."""
        if not self.done:
            raise UpstreamFailed(
                f"Provider '{self.provider}' ended its stream before message_stop."
            )

    def _block_start(self, index: int, block: Mapping[str, Any]) -> list[Json]:
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if block.get("type") != "tool_use":
            return []
        if self.json_answer and block.get("name") == JSON_TOOL:
            self._json_blocks.add(index)
            return []
        number = self._tool_index[index] = len(self._tool_index)
        call = {
            "index": number,
            "id": block.get("id", ""),
            "type": "function",
            "function": {"name": block.get("name", ""), "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _block_delta(self, index: int, delta: Mapping[str, Any]) -> list[Json]:
        if delta.get("type") == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
            if index in self._json_blocks:
                return [self._chunk({"content": delta["partial_json"]})]
            call = {
                "index": self._tool_index[index],
                "function": {"arguments": delta["partial_json"]},
            }
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _count(self, counts: Any) -> None:
        # message_delta repeats the counts so far; a null means "unchanged".
        if isinstance(counts, dict):
            self._usage.update({k: v for k, v in counts.items() if v is not None})

    def _head(self) -> Json:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
        }

    def _chunk(self, delta: Json, finish: str | None = None) -> Json:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {**self._head(), "choices": [choice]}

    def _usage_chunk(self) -> Json:
        return {**self._head(), "choices": [], "usage": usage(self._usage)}


class Anthropic(ProviderKind):
    """Claude through `POST {base_url}/messages`, with tools, images, streaming and usage."""

    name = "anthropic"

    def __init__(self, provider: Provider) -> None:
        super().__init__(provider)
        base = {
            "content-type": "application/json",
            "accept": "application/json",
            "anthropic-version": ANTHROPIC_VERSION,
        }
        self._headers = provider.fixed_headers(base, X_API_KEY)  # once per snapshot

    @property
    def base_url(self) -> str:
        return (self.provider.base_url or DEFAULT_BASE_URL).rstrip("/")

    def native_headers(self, forwarded: Mapping[str, str]) -> dict[str, str]:
        """The headers for a client's own Messages request: its anthropic-version wins,
        its anthropic-beta values join the provider's, and what the provider's
        `headers.forward` lets through is added."""
        others = {k: v for k, v in forwarded.items() if k.lower() not in FORWARDED_HEADERS}
        headers = overlay(self._headers, others)
        for name in FORWARDED_HEADERS:
            given = forwarded.get(name)
            if not given:
                continue
            configured = next((k for k in headers if k.lower() == name), name)
            if name == "anthropic-beta" and headers.get(configured):
                values = f"{headers[configured]},{given}".split(",")
                given = ",".join(dict.fromkeys(v.strip() for v in values if v.strip()))
            headers.pop(configured, None)
            headers[name] = given
        return headers

    async def _open(
        self,
        upstream: Upstream,
        method: str,
        path: str,
        body: Json | None,
        headers: Mapping[str, str] | None = None,
    ) -> UpstreamResponse:
        try:
            return await upstream.open(
                method,
                self.provider.with_query(self.base_url + path),
                provider=self.provider.name,
                headers=self._headers if headers is None else headers,
                body=None if body is None else orjson.dumps(body),
                timeout=self.provider.timeout,
                secret=self.provider.api_key,
            )
        except GatewayError as err:
            # Anthropic answers 529 when overloaded: a passing condition, not a broken upstream.
            if err.context.get("upstream_status") == 529:
                raise error_for_status(529, err.message) from None
            raise

    async def chat(self, call: Call) -> bytes:
        request = {**to_messages_request(call.body, call.model.id), "stream": False}
        message = await (
            await self._open(
                call.upstream, "POST", "/messages", request, request_headers(self._headers, call)
            )
        ).json()
        try:
            if json_answer_tool(call.body) is not None:
                message = unwrap_json_answer(message)
            completion = to_chat_completion(message, model=call.model.id, created=int(time.time()))
        except (AttributeError, KeyError, TypeError):
            raise UpstreamFailed(
                f"Provider '{self.provider.name}' sent a message that is not a Messages API answer."
            ) from None
        return orjson.dumps(completion)

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        request = {**to_messages_request(call.body, call.model.id), "stream": True}
        resp = await self._open(
            call.upstream, "POST", "/messages", request, request_headers(self._headers, call)
        )
        options = call.body.get("stream_options") or {}
        translator = ChunkTranslator(
            model=call.model.id,
            created=int(time.time()),
            include_usage=bool(options.get("include_usage")),
            json_answer=json_answer_tool(call.body) is not None,
            provider=self.provider.name,
            secret=self.provider.api_key,
        )
        return self._relay(resp, translator)

    async def _relay(
        self, resp: UpstreamResponse, translator: ChunkTranslator
    ) -> AsyncIterator[bytes]:
        try:
            async for _event, data in resp.events():
                try:
                    chunks = translator.feed(orjson.loads(data))
                except (AttributeError, KeyError, TypeError, ValueError):
                    raise UpstreamFailed(
                        f"Provider '{self.provider.name}' sent a stream event we cannot read: "
                        f"{data[:200].decode('utf-8', 'replace')}"
                    ) from None
                out = b"".join(frame(orjson.dumps(chunk)) for chunk in chunks)
                if translator.done:  # message_stop: the end goes out with the last chunks
                    await resp.finish()  # first: a client that saw [DONE] may hang up
                    yield out + DONE
                    return
                if out:
                    yield out
        finally:
            resp.close()  # at once when the client stops reading mid-stream
        translator.finish()  # raises: the stream ended before message_stop

    async def messages(self, call: Call) -> bytes:
        """The client's Messages request, passed through (only the model is ours)."""
        request = {**call.body, "model": call.model.id}
        return await (await self._native(call, "/messages", request)).read()

    async def messages_stream(self, call: Call) -> AsyncIterator[bytes]:
        request = {**call.body, "model": call.model.id, "stream": True}
        resp = await self._native(call, "/messages", request)
        relay = MessagesRelay(
            self.provider.name,
            lambda data: stream_error(self.provider.name, data, self.provider.api_key),
        )
        return relay_messages(resp, relay)

    async def count_tokens(self, call: Call) -> bytes:
        request = {**call.body, "model": call.model.id}
        return await (await self._native(call, "/messages/count_tokens", request)).read()

    async def _native(self, call: Call, path: str, request: Json) -> UpstreamResponse:
        headers = self.native_headers(call.headers)
        return await self._open(call.upstream, "POST", path, request, headers)

    async def discover_models(self, upstream: Upstream) -> list[str]:
        resp = await self._open(upstream, "GET", "/models?limit=1000", None)
        return model_ids(await resp.json(), self.provider.name)
