"""`models: discover`: ask each such provider's upstream for its models, at start and on a timer.

A discovered list becomes part of the next Snapshot (a forced reload); a failing
discovery keeps the last list and its error is shown by /v1/providers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from engine.errors import GatewayError
from engine.providers import KINDS

if TYPE_CHECKING:
    from engine.live.reload import Reloader
    from engine.upstream.client import Upstream

log = logging.getLogger("patchbay.discovery")


class Discovery:
    """Keeps `reloader.discovered` fresh; errors by provider name for /v1/providers."""

    def __init__(self, reloader: Reloader, upstream: Upstream) -> None:
        self.reloader = reloader
        self.upstream = upstream
        self.errors: dict[str, str] = {}

    async def refresh(self) -> None:
        """Ask every active discovering provider once; reload if any list changed."""
        snapshot = self.reloader.snapshot
        changed = False
        for provider in snapshot.providers.values():
            if not provider.discover or provider.status != "active":
                continue
            try:
                found = await KINDS[provider.kind](provider).discover_models(self.upstream)
            except GatewayError as err:
                message = snapshot.redact(err.message)  # shown by /v1/providers
                if self.errors.get(provider.name) != message:
                    log.warning("model discovery for %s failed: %s", provider.name, message)
                self.errors[provider.name] = message
                continue
            self.errors.pop(provider.name, None)
            models = tuple(sorted(set(found)))
            if self.reloader.discovered.get(provider.name) != models:
                self.reloader.discovered[provider.name] = models
                changed = True
        if changed:
            await self.reloader.reload(force=True)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.reloader.snapshot.policy.discover_interval)
