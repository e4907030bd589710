"""Tracing in one worker: off, or one OpenTelemetry pipeline for the `telemetry` served.

The runtime has this follow every snapshot swapped in (engine/live/reload.py tells it):
a changed `telemetry` block builds a new pipeline (engine/observe/tracing.py, the only
module that imports OpenTelemetry, and imported only then), and the one it replaces is
flushed and shut down once the requests traced on it have ended. Without `telemetry`
nothing of OpenTelemetry is loaded, and the front door asks `on` and nothing more.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from engine.observe.exchange import Exchange, Trace

if TYPE_CHECKING:
    from engine.observe.tracing import Addresses, Pipeline, Telemetry

EXTRA_MISSING = (
    "tracing needs OpenTelemetry, which is not installed: pip install 'patchbay[telemetry]'"
)


def tracing_installed() -> bool:
    """Whether the `telemetry` extra is installed (this loads OpenTelemetry when it is)."""
    try:
        import engine.observe.tracing  # noqa: F401
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("opentelemetry"):
            return False
        raise
    return True


class Tracing:
    """This worker's tracing. `operations` maps a handler to its GenAI operation name
    (chat, embeddings, ...); every method runs on the event loop."""

    def __init__(self, operations: Mapping[str, str | None]) -> None:
        self._operations = operations
        self._current: Pipeline | None = None
        self._retired: list[Pipeline] = []  # replaced, with traces still open
        self._closing: list[threading.Thread] = []  # shutdowns under way (they flush)

    @property
    def on(self) -> bool:
        return self._current is not None

    def follow(
        self, telemetry: Telemetry | None, addresses: Addresses, redact: Callable[[str], str]
    ) -> None:
        """Trace as `telemetry` says from now on; the pipeline built for other settings
        is shut down once its open traces end."""
        current = self._current
        if current is not None and current.telemetry == telemetry:
            current.follow(addresses, redact)
            return
        self._current = None
        if telemetry is not None:
            from engine.observe.tracing import Pipeline  # OpenTelemetry is loaded here

            self._current = Pipeline(telemetry, addresses, redact, self._shut)
        if current is not None:
            current.retire()
            self._retired = [p for p in [*self._retired, current] if not p.done]

    def begin(self, exchange: Exchange, headers: Mapping[str, str], handler: str) -> Trace | None:
        """The trace of a request that just arrived, continuing its `traceparent`."""
        current = self._current
        if current is None:
            return None
        return current.begin(exchange, headers, self._operations.get(handler))

    def _shut(self, shutdown: Callable[[], None]) -> None:
        """Run a pipeline's shutdown, which waits on the exporter, off the event loop."""
        self._closing = [thread for thread in self._closing if thread.is_alive()]
        thread = threading.Thread(target=shutdown, name="patchbay-tracing", daemon=True)
        thread.start()
        self._closing.append(thread)

    async def close(self) -> None:
        """Flush and shut down every pipeline, the worker being about to stop."""
        pipelines = [*self._retired, *([self._current] if self._current else [])]
        self._current, self._retired = None, []
        for pipeline in pipelines:
            pipeline.retire(force=True)
        closing, self._closing = self._closing, []
        await asyncio.gather(*(asyncio.to_thread(thread.join) for thread in closing))
