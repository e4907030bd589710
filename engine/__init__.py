"""Patchbay: an OpenAI-compatible API gateway whose whole surface is declared in YAML."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.version import __version__

if TYPE_CHECKING:
    from quart import Quart


def create_app(config_dir: Any = None, **overrides: Any) -> Quart:
    """The ASGI app serving `config_dir`; see engine.app.create_app."""
    from engine.app import create_app as build

    return build(config_dir, **overrides)


__all__ = ["__version__", "create_app"]
