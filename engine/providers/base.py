"""The provider-kind contract: one class per wire format, one method per API family.

A kind turns an OpenAI-shaped request into its upstream's wire format and the answer
back into OpenAI's shape. Non-stream methods return OpenAI JSON bytes; `chat_stream`
returns once the upstream accepted the request (so failures before the first byte are
ordinary errors) and then yields SSE-framed OpenAI chunks (`data: {...}\n\n`), one or
more per item so that one upstream read can be one client write. A stream that ends
well ends with `data: [DONE]` in its last item (no write of its own); a failure
raises a GatewayError instead, which the client gets as an error event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from engine.errors import InvalidRequest, UpstreamFailed
from engine.providers.prices import Price
from engine.upstream.client import Upstream

ProviderStatus = Literal["active", "disabled", "missing_key"]


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

    @property
    def active(self) -> bool:
        return self.status == "active"

    def public(self) -> dict[str, Any]:
        """What `/v1/providers` may show: never the key, never a URL with credentials."""
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "models": [m.id for m in self.models.values()] if self.active else [],
            "discover": self.discover,
        }


@dataclass(frozen=True, slots=True)
class Call:
    """One request to one upstream: who to ask, for which model, with what body.

    `body` is the client's parsed JSON; a kind must not mutate it (fallbacks reuse it).
    """

    upstream: Upstream
    provider: Provider
    model: Model
    body: dict[str, Any]


class ProviderKind:
    """Base of every adapter; an API family a kind does not speak answers 400."""

    name: ClassVar[str]

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

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
