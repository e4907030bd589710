"""The handler table: names that routes.yaml may use, one module per API family.

Each entry says how to make the handler and which inbound wire format it speaks
(engine/formats); names and formats are known without building any handler.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from engine.handlers import admin, dashboard, health, metrics, models, search, usage
from engine.handlers.audio import Speech, Transcriptions
from engine.handlers.chat import ChatCompletions
from engine.handlers.embeddings import Embeddings
from engine.handlers.images import ImageGenerations
from engine.handlers.messages import CountTokens, CreateMessage
from engine.handlers.responses import CreateResponse
from engine.handlers.stored_responses import delete_response, get_response
from engine.http.messages import Handler


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    make: Callable[[], Handler]  # handlers may compile schemas: built once per worker
    wire: str = "openai"
    upload: bool = False  # its body is spooled to a file as it arrives (engine/http/uploads.py)
    operation: str | None = None  # its GenAI operation, in traces (engine/observe/genai.py)


# The conventions' operation for content other than chat and embeddings (images, audio).
GENERATE = "generate_content"


def _plain(handler: Handler) -> Callable[[], Handler]:
    return lambda: handler


HANDLERS: Mapping[str, HandlerSpec] = MappingProxyType(
    {
        "chat.completions": HandlerSpec(ChatCompletions, operation="chat"),
        "responses.create": HandlerSpec(CreateResponse, wire="responses", operation="chat"),
        "responses.get": HandlerSpec(_plain(get_response), wire="responses"),
        "responses.delete": HandlerSpec(_plain(delete_response), wire="responses"),
        "messages.create": HandlerSpec(CreateMessage, wire="anthropic", operation="chat"),
        "messages.count_tokens": HandlerSpec(CountTokens, wire="anthropic"),
        "embeddings.create": HandlerSpec(Embeddings, operation="embeddings"),
        "images.generations": HandlerSpec(ImageGenerations, operation=GENERATE),
        "audio.speech": HandlerSpec(Speech, operation=GENERATE),
        "audio.transcriptions": HandlerSpec(
            lambda: Transcriptions("transcriptions"), upload=True, operation=GENERATE
        ),
        "audio.translations": HandlerSpec(
            lambda: Transcriptions("translations"), upload=True, operation=GENERATE
        ),
        "models.list": HandlerSpec(_plain(models.list_models)),
        "models.get": HandlerSpec(_plain(models.get_model)),
        "providers.list": HandlerSpec(_plain(models.list_providers)),
        "search.query": HandlerSpec(_plain(search.query)),
        "search.providers": HandlerSpec(_plain(search.list_engines)),
        "usage.report": HandlerSpec(_plain(usage.usage_report)),
        "health.live": HandlerSpec(_plain(health.live)),
        "health.ready": HandlerSpec(_plain(health.ready)),
        "metrics.scrape": HandlerSpec(_plain(metrics.scrape)),
        "admin.reload": HandlerSpec(_plain(admin.reload)),
        "admin.config": HandlerSpec(_plain(admin.config)),
        "admin.explain": HandlerSpec(_plain(admin.explain)),
        "dashboard.page": HandlerSpec(dashboard.DashboardPage),
        "dashboard.data": HandlerSpec(_plain(dashboard.data)),
    }
)
HANDLER_NAMES = frozenset(HANDLERS)
UPLOADS = frozenset(name for name, spec in HANDLERS.items() if spec.upload)
OPERATIONS: Mapping[str, str | None] = MappingProxyType(
    {name: spec.operation for name, spec in HANDLERS.items()}
)
WIRE_FORMATS: Mapping[str, str] = MappingProxyType(
    {name: spec.wire for name, spec in HANDLERS.items()}
)


def handler_table() -> Mapping[str, Handler]:
    """A fresh read-only table of built handlers."""
    return MappingProxyType({name: spec.make() for name, spec in HANDLERS.items()})
