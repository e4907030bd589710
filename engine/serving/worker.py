"""One worker: the app on the chosen server, stopped gracefully on SIGTERM or SIGINT.

On the signal the listening socket closes at once (new connections are refused once no
other process holds it), requests and streams in flight get `graceful_timeout`
seconds, and those still running then end with an error (engine/http/drain.py).
SIGHUP re-reads the config (engine/runtime.py); the server never sees it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Sequence

from engine.http.drain import Drain
from engine.serving.servers import SERVER_KINDS

log = logging.getLogger("patchbay")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# After graceful_timeout, the requests still running get this long to send their error.
CLOSING_SECONDS = 5.0


def run_worker(server: str, sockets: Sequence[socket.socket]) -> None:
    """Serve on `sockets` with `server` in this process until stopped (the process target
    of every worker, and the whole server when there is one worker)."""
    # Until the app installs its handler, a SIGHUP (passed on by the supervisor) would
    # end a worker that is still starting.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(server, sockets))
    else:
        uvloop.run(_serve(server, sockets))


async def _serve(server: str, sockets: Sequence[socket.socket]) -> None:
    from engine import asgi  # builds the app here, in the worker

    settings = asgi.runtime.snapshot.settings
    serving = SERVER_KINDS[server].load().serving(asgi.app, sockets, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    served = asyncio.ensure_future(serving.serve())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait((served, stopping), return_when=asyncio.FIRST_COMPLETED)
    if served.done():  # the server ended by itself (its start-up failed)
        stopping.cancel()
        served.result()
        return
    serving.stop()
    drain = asgi.runtime.drain
    grace = settings.graceful_timeout
    log.info("stopping: %d requests in flight get up to %gs", drain.in_flight(), grace)
    ending = loop.call_later(grace, _end, drain)
    try:
        await asyncio.wait_for(served, grace + CLOSING_SECONDS)
    except TimeoutError:
        log.error("the server did not stop within graceful_timeout; leaving it")
    finally:
        ending.cancel()


def _end(drain: Drain) -> None:
    if count := drain.end():
        log.warning("graceful_timeout is over: ending %d requests still running", count)
