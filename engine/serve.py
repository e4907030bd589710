"""Run Hypercorn: one worker in this process, or N spawned workers under a small supervisor.

The supervisor exists because Hypercorn's own restarts every worker on SIGHUP; here
SIGHUP is passed on to the workers, which re-read their config and keep serving.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from email.utils import formatdate
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from hypercorn.config import Config

from engine.config.settings import Settings
from engine.observe.logs import server_logger
from engine.observe.metrics import MULTIPROC_ENV, prepare_multiprocess

log = logging.getLogger("patchbay")

GRACE_SECONDS = 30.0  # streams in flight get this long after SIGTERM


class ServerConfig(Config):
    """Hypercorn's config, with the Date header (RFC 9110 asks it of a server with a
    clock) formatted once a second instead of once per answer, for every answer
    Hypercorn writes: Patchbay's, the pages' and Hypercorn's own errors."""

    include_date_header = False  # added below, from the per-second value
    include_server_header = False  # no software banner; one header less per answer
    _date_second = -1
    _date = b""

    def response_headers(self, protocol: str) -> list[tuple[bytes, bytes]]:
        second = int(time.time())
        if second != self._date_second:
            self._date_second = second
            self._date = formatdate(second, usegmt=True).encode("ascii")
        headers: list[tuple[bytes, bytes]] = super().response_headers(protocol)
        return [(b"date", self._date), *headers]


def hypercorn_config(settings: Settings) -> ServerConfig:
    config = ServerConfig()
    config.application_path = "engine.asgi:app"
    config.bind = [f"{settings.host}:{settings.port}"]
    config.workers = settings.workers
    config.graceful_timeout = GRACE_SECONDS
    # Hypercorn also holds a connection the client has closed until this runs out
    # (CLOSE-WAIT, with its task): a long value costs a file descriptor per closed
    # connection for that long.
    config.keep_alive_timeout = settings.keep_alive_timeout
    config.loglevel = settings.log_level.upper()
    config.accesslog = None  # Patchbay logs requests itself (request_logging)
    config.errorlog = server_logger()  # its lines in the same format as ours
    return config


def _worker() -> Callable[..., None]:
    try:
        import uvloop  # noqa: F401  (only to know it is installed)
        from hypercorn.asyncio.run import uvloop_worker
    except ImportError:
        from hypercorn.asyncio.run import asyncio_worker

        return asyncio_worker
    return uvloop_worker


def serve(settings: Settings, state_dir: Path) -> int:
    """Serve until stopped; with several workers, metrics are pooled under `state_dir`."""
    config = hypercorn_config(settings)
    worker = _worker()
    if settings.workers == 1:
        worker(config)
        return 0
    if MULTIPROC_ENV not in os.environ:  # a directory the operator chose is left as it is
        prepare_multiprocess(state_dir / "metrics")  # every scrape then sums all workers
    return _supervise(config, worker, settings.workers)


def _supervise(config: Config, worker: Callable[..., None], count: int) -> int:
    """Spawn `count` workers on shared sockets; SIGTERM/SIGINT stop them gracefully."""
    context = multiprocessing.get_context("spawn")
    sockets = config.create_sockets()
    shutdown = context.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # children inherit: the parent decides
    processes = []
    for _ in range(count):
        process = context.Process(
            target=worker, kwargs={"config": config, "sockets": sockets, "shutdown_event": shutdown}
        )
        process.daemon = True
        process.start()
        processes.append(process)

    def stop(*_: Any) -> None:
        shutdown.set()

    def forward_hup(*_: Any) -> None:
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGHUP)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, forward_hup)
    log.info("serving on %s with %d workers", ", ".join(config.bind), count)
    pending = list(processes)
    while pending:
        done = wait([p.sentinel for p in pending])
        pending = [p for p in pending if p.sentinel not in done]
        if pending and not shutdown.is_set():
            log.error("a worker exited; stopping the others")
            shutdown.set()
    for process in processes:
        process.join()
    return max((abs(p.exitcode or 0) for p in processes), default=0)
