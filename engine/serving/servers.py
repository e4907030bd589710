"""The ASGI servers `patchbay serve` runs on, and what each one brings and lacks.

Each server is one module of this package, the only one that imports it, offering
`serving(app, sockets, settings)`: a `Serving` on sockets bound beforehand (see
listen.py), in the running event loop. Hypercorn comes with Patchbay; uvicorn and
Granian are extras, imported only when chosen.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

from engine.config.settings import Settings

ASGIApp = Callable[..., Awaitable[None]]  # each server's module narrows it as it needs


class ServerMissing(Exception):
    """The chosen server is not installed; the message names the extra that brings it."""


class Serving(Protocol):
    """One server on listening sockets, in the running event loop."""

    async def serve(self) -> None:
        """Run the app's start-up, serve, and return once stopped and drained."""

    def stop(self) -> None:
        """Stop accepting at once (the sockets close); requests in flight go on."""


class ServerModule(Protocol):
    def serving(
        self, app: ASGIApp, sockets: Sequence[socket.socket], settings: Settings
    ) -> Serving: ...


@dataclass(frozen=True, slots=True)
class ServerKind:
    """A server: the module that runs it, the package it needs and the extra bringing it."""

    name: str
    package: str
    extra: str | None
    # Settings this server honours only in part: setting -> what it does not do.
    # `patchbay check` warns of each when this server is chosen; the README's table too.
    lacks: Mapping[str, str] = field(default_factory=dict)

    def check(self) -> None:
        """Raise ServerMissing, naming the extra to install, when the package is missing."""
        if importlib.util.find_spec(self.package) is None:
            raise ServerMissing(
                f"server {self.name!r} is not installed: pip install 'patchbay[{self.extra}]'"
            )

    def load(self) -> ServerModule:
        """This server's module (ServerMissing when its package is not installed)."""
        self.check()
        return cast(ServerModule, importlib.import_module(f"engine.serving.{self.name}_server"))


SERVER_KINDS: Mapping[str, ServerKind] = {
    "hypercorn": ServerKind("hypercorn", "hypercorn", None),
    "uvicorn": ServerKind(
        "uvicorn",
        "uvicorn",
        "uvicorn",
        lacks={
            "keep_alive_timeout": "applies between requests only: a connection that has not"
            " sent a whole request yet stays open until the client closes it",
        },
    ),
    "granian": ServerKind("granian", "granian", "granian"),
}


def server_warnings(settings: Settings) -> list[str]:
    """What `patchbay check` says of the chosen server: not installed, or a setting it
    honours only in part."""
    kind = SERVER_KINDS[settings.server]
    try:
        kind.check()
    except ServerMissing as missing:
        return [str(missing)]
    return [f"server {kind.name!r}: {name} {why}" for name, why in kind.lacks.items()]


def log_like_patchbay(name: str, level: str) -> None:
    """Send the records of a server's logger `name` through Patchbay's own handlers (one
    format for every line), from `level` up."""
    logger = logging.getLogger(name)
    logger.handlers = list(logging.getLogger("patchbay").handlers)
    logger.propagate = False
    logger.setLevel(level.upper())
