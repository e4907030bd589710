"""The provider-kind contract: one class per wire format, one method per API family.

A kind turns an OpenAI-shaped request into its upstream's wire format and the answer
back into OpenAI's shape (a kind whose upstream speaks OpenAI's Responses API may also
take those requests as they are: `speaks_responses`). Non-stream methods return OpenAI JSON bytes; `chat_stream`
returns once the upstream accepted the request (so failures before the first byte are
ordinary errors) and then yields SSE-framed OpenAI chunks (`data: {...}\n\n`), one or
more per item so that one upstream read can be one client write. A stream that ends
well ends with `data: [DONE]` in its last item (no write of its own); a failure
raises a GatewayError instead, which the client gets as an error event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Literal

import orjson

from engine.errors import InvalidRequest, UpstreamFailed
from engine.formats.multipart import Form
from engine.providers.prices import Price
from engine.upstream.client import Upstream

ProviderStatus = Literal["active", "disabled", "missing_key"]
NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class UpstreamAuth:
    """How a provider's key is sent: as `header`, after `scheme` (`Authorization: Bearer
    KEY` by default; `api-key: KEY` for Azure OpenAI)."""

    header: str = "Authorization"
    scheme: str = "Bearer "

    def headers(self, key: str | None) -> dict[str, str]:
        return {self.header: self.scheme + key} if key else {}


BEARER = UpstreamAuth()


@dataclass(frozen=True, slots=True)
class Model:
    """One upstream model a provider serves."""

    id: str
    type: str = "chat"  # a name in engine/modeltypes.py MODEL_TYPES
    price: Price | None = None  # None: the cost of its answers is unknown


@dataclass(frozen=True, slots=True)
class Provider:
    """A provider as declared in providers.yaml, with its secret resolved."""

    name: str
    kind: str
    status: ProviderStatus
    base_url: str
    api_key: str | None = field(repr=False)
    timeout: float
    models: Mapping[str, Model]
    discover: bool = False
    local: bool = False
    stream_usage: bool = True  # ask for a stream's usage even when the client did not
    options: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # `headers.set`: sent every time
    forward: tuple[str, ...] = ()  # client headers passed on when present, as declared
    auth: UpstreamAuth | None = None  # None: the kind's own way of sending the key
    query: str = ""  # `query:` url-encoded, added to every URL under base_url
    needs: tuple[str, ...] = ()  # the unset variables that keep it `missing_key`

    @property
    def active(self) -> bool:
        return self.status == "active"

    def fixed_headers(self, base: Mapping[str, str], auth: UpstreamAuth) -> dict[str, str]:
        """What every request carries: the kind's `base`, `headers.set`, then the key, sent
        as `auth:` declares (else as the kind's `auth`). Built once per snapshot."""
        return overlay(base, self.headers, (self.auth or auth).headers(self.api_key))

    def forwarded(self, client: Mapping[str, str]) -> dict[str, str]:
        """The allow-listed headers among the client's (`client` has lower-case names)."""
        return {name: client[name.lower()] for name in self.forward if name.lower() in client}

    def with_query(self, url: str) -> str:
        if not self.query:
            return url
        return f"{url}{'&' if '?' in url else '?'}{self.query}"

    def public(self) -> dict[str, Any]:
        """What `/v1/providers` may show: never the key, never a URL with credentials
        (the names of the variables it waits for are no secret)."""
        shown = {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "models": [m.id for m in self.models.values()] if self.active else [],
            "discover": self.discover,
        }
        if self.needs:
            shown["needs"] = list(self.needs)
        return shown

    def why_inactive(self) -> str:
        """Why its models are not served, in words for an error message or a log line."""
        if self.status == "disabled":
            return f"provider '{self.name}' is switched off (enabled: false in providers.yaml)"
        variables = " and ".join(self.needs) or "its key"
        return (
            f"provider '{self.name}' needs {variables} set in the environment Patchbay starts with"
        )


@dataclass(frozen=True, slots=True)
class Call:
    """One request to one upstream: who to ask, for which model, with what body.

    `body` is the client's parsed JSON with the target's parameter policy applied; a kind
    must not mutate it (fallbacks reuse it). `headers` are client headers sent upstream:
    those the provider's `headers.forward` lets through and, for a request passed
    through natively, its format's own (engine/formats/anthropic.py FORWARDED_HEADERS);
    a kind sends them with its own (`request_headers`).
    """

    upstream: Upstream
    provider: Provider
    model: Model
    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=lambda: NO_HEADERS)


@dataclass(frozen=True, slots=True)
class Relayed:
    """An upstream answer passed on as it arrives: its Content-Type and its bytes
    (raw chunks, or whole SSE events when `content_type` is text/event-stream)."""

    content_type: str
    chunks: AsyncIterator[bytes]


def overlay(*layers: Mapping[str, str]) -> dict[str, str]:
    """Header mappings merged left to right; a later name replaces an earlier one in any case."""
    merged: dict[str, str] = {}
    for layer in layers:
        if layer:
            names = {name.lower() for name in layer}
            merged = {k: v for k, v in merged.items() if k.lower() not in names}
            merged.update(layer)
    return merged


def request_headers(fixed: Mapping[str, str], call: Call) -> Mapping[str, str]:
    """A kind's `fixed` headers with the call's forwarded ones (a client's value wins over
    a `headers.set` one of the same name; it can never name the key's header)."""
    return overlay(fixed, call.headers) if call.headers else fixed


class ProviderKind:
    """Base of every adapter; an API family a kind does not speak answers 400."""

    name: ClassVar[str]
    # Whether chat requests to this kind may carry `reasoning_effort` (its upstream decides
    # what to make of it); translations from other APIs add it only where this is True.
    reasoning_effort: ClassVar[bool] = False

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    @property
    def speaks_responses(self) -> bool:
        """Whether this provider takes OpenAI Responses requests itself (`responses`,
        `responses_stream`); every other one is served them translated to chat."""
        return False

    async def chat(self, call: Call) -> bytes:
        raise self._unsupported("chat completions")

    async def chat_stream(self, call: Call) -> AsyncIterator[bytes]:
        raise self._unsupported("streaming chat completions")

    async def embeddings(self, call: Call) -> bytes:
        raise self._unsupported("embeddings")

    async def images(self, call: Call) -> bytes:
        raise self._unsupported("image generation")

    async def discover_models(self, upstream: Upstream) -> list[str]:
        raise self._unsupported("model discovery")

    # Audio: `call.body` is the speech request, or a transcription's text fields with
    # its `form` (the spooled multipart body, re-sent with only `model` changed).
    # `task` is "transcriptions" or "translations".

    async def speech(self, call: Call) -> Relayed:
        """The spoken clip as it comes (or `speech.audio.*` events for stream_format sse)."""
        raise self._unsupported("text to speech")

    async def transcription(self, call: Call, form: Form, task: str) -> Relayed:
        """The transcript: JSON or text as `response_format` asks; events if `stream`."""
        raise self._unsupported(f"audio {task}")

    async def responses(self, call: Call) -> bytes:
        """An OpenAI Responses request, passed through: the upstream's Response JSON."""
        raise self._unsupported("the Responses API natively")

    async def responses_stream(self, call: Call) -> AsyncIterator[bytes]:
        """The upstream's Responses events as they come (whole SSE events, untouched)."""
        raise self._unsupported("the Responses API natively")

    # Anthropic's Messages API, for a kind whose upstream speaks it natively: `call.body`
    # is a Messages request. None (the default): the handler translates to chat instead.

    async def messages(self, call: Call) -> bytes | None:
        """A Message (JSON bytes) from the upstream's own Messages API, or None."""
        return None

    async def messages_stream(self, call: Call) -> AsyncIterator[bytes] | None:
        """The upstream's own Messages event stream (framed events, relayed), or None."""
        return None

    async def count_tokens(self, call: Call) -> bytes | None:
        """The upstream's own token count for a Messages request, or None."""
        return None

    def _unsupported(self, what: str) -> InvalidRequest:
        return InvalidRequest(
            f"Provider '{self.provider.name}' (kind {self.name}) does not support {what}.",
            param="model",
            code="unsupported_operation",
        )


def model_ids(listing: Any, provider: str) -> list[str]:
    """The ids of an OpenAI-style model list (`{"data": [{"id": ...}]}`), as Anthropic's too."""
    try:
        return [str(item["id"]) for item in listing["data"]]
    except (KeyError, TypeError):
        raise UpstreamFailed(
            f"Provider '{provider}' sent a model list without data[].id."
        ) from None


def answer_object(raw: bytes, provider: str) -> dict[str, Any]:
    """An upstream's JSON answer as an object; anything else is the upstream's fault (502)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise UpstreamFailed(f"Provider '{provider}' sent an answer that is not a JSON object.")
    return data
