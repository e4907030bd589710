"""The handler table: names that routes.yaml may use, one module per API family."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from engine.handlers import admin, health, metrics, models, search
from engine.handlers.chat import ChatCompletions
from engine.handlers.embeddings import Embeddings
from engine.handlers.images import ImageGenerations
from engine.http import Handler


def handler_table() -> Mapping[str, Handler]:
    """A fresh read-only table (handlers may hold compiled schemas)."""
    return MappingProxyType(
        {
            "chat.completions": ChatCompletions(),
            "embeddings.create": Embeddings(),
            "images.generations": ImageGenerations(),
            "models.list": models.list_models,
            "models.get": models.get_model,
            "providers.list": models.list_providers,
            "search.query": search.query,
            "search.providers": search.list_engines,
            "health.live": health.live,
            "health.ready": health.ready,
            "metrics.scrape": metrics.scrape,
            "admin.reload": admin.reload,
            "admin.config": admin.config,
            "admin.explain": admin.explain,
        }
    )


HANDLER_NAMES = frozenset(handler_table())
