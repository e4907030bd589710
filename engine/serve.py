"""`patchbay serve`: bind the address, then serve in this process or under a supervisor.

The address is bound here, once, before any worker starts: a busy port is one line of
error, and every worker accepts from the same socket (see engine/serving/).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from engine.config.settings import Settings
from engine.live.reload import logging_of
from engine.observe.logs import configure_logging
from engine.observe.workers import MULTIPROC_ENV, WorkerRestarts, prepare_multiprocess
from engine.serving.listen import listen
from engine.serving.servers import SERVER_KINDS
from engine.serving.supervisor import Supervisor
from engine.serving.worker import run_worker

log = logging.getLogger("patchbay")


def serve(settings: Settings, state_dir: Path, notes: Sequence[str] = ()) -> int:
    """Serve until stopped; with several workers, metrics are pooled under `state_dir`.
    `notes` are logged first (the settings a flag or a variable took from server.yaml).

    Raises ServerMissing (the server's extra is not installed) and ListenError (the
    address cannot be had) before anything starts.
    """
    SERVER_KINDS[settings.server].check()
    configure_logging(*logging_of(settings))
    for note in notes:
        log.info("%s", note)
    sock = listen(settings.host, settings.port)
    workers = f"{settings.workers} worker{'s' if settings.workers > 1 else ''}"
    log.info("listening on %s:%d (%s, %s)", settings.host, settings.port, settings.server, workers)
    if settings.workers == 1:
        run_worker(settings.server, [sock])
        return 0
    if MULTIPROC_ENV not in os.environ:  # a directory the operator chose is left as it is
        prepare_multiprocess(state_dir / "metrics")  # every scrape then sums all workers
    restarts = WorkerRestarts()
    supervisor = Supervisor(
        settings.server, [sock], settings.workers, settings.graceful_timeout, restarts.record
    )
    return supervisor.run()
