"""N workers on one listening socket: spawned, replaced when one dies, stopped together.

A worker that dies (a crash, the OOM killer, `kill -9`) is logged, counted
(`patchbay_worker_restarts_total`) and replaced while the others keep serving: at once
when it had been serving a while, after a growing pause while its replacements keep
dying soon after they start. SIGHUP is passed on to every worker, which re-reads the
config without a restart. SIGTERM and SIGINT close the supervisor's copy of the
socket and stop every worker gracefully (worker.py).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from engine.serving.worker import CLOSING_SECONDS, run_worker

log = logging.getLogger("patchbay")

STABLE_SECONDS = 10.0  # a worker that served this long before dying ends a run of quick deaths
FIRST_PAUSE = 0.5  # seconds before the next replacement, doubled for each quick death
LONGEST_PAUSE = 30.0
GIVE_UP_AFTER = 9  # quick deaths in a row, with no other worker serving: the service is down
FORWARDED = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)


@dataclass(slots=True)
class BackOff:
    """When to start the replacement of a worker that died."""

    quick_deaths: int = 0

    def pause_after(self, lived: float) -> float:
        """Seconds before the next start: none after a worker that served a while or
        the first that died soon after its start; then 0.5, 1, 2 ... up to 30."""
        if lived >= STABLE_SECONDS:
            self.quick_deaths = 0
        self.quick_deaths += 1
        if self.quick_deaths == 1:
            return 0.0
        return min(LONGEST_PAUSE, FIRST_PAUSE * 2.0 ** (self.quick_deaths - 2))


@dataclass(slots=True)
class Slot:
    """One worker's place: its current process, or when its replacement starts."""

    process: BaseProcess | None = None
    started: float = 0.0
    due: float | None = 0.0
    backoff: BackOff = field(default_factory=BackOff)


class Supervisor:
    def __init__(
        self,
        server: str,
        sockets: Sequence[socket.socket],
        count: int,
        graceful_timeout: float,
        on_death: Callable[[int], None],
    ) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._server = server
        self._sockets = list(sockets)
        self._slots = [Slot() for _ in range(count)]
        self._grace = graceful_timeout
        self._on_death = on_death
        self._signals: list[int] = []
        self._wake_reader, self._wake_writer = socket.socketpair()

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; the exit status (0: stopped cleanly)."""
        for signum in FORWARDED:
            signal.signal(signum, self._note_signal)
        while True:
            self._start_due()
            ready = wait([self._wake_reader, *self._sentinels()], timeout=self._next_due())
            if self._wake_reader in ready:
                self._wake_reader.recv(64)
            if self._handle_signals():
                return self._stop()
            if self._reap():
                log.critical("every worker keeps dying at start-up: stopping")
                return self._stop() or 1

    def _note_signal(self, signum: int, _: object) -> None:
        self._signals.append(signum)
        self._wake_writer.send(b"!")

    def _handle_signals(self) -> bool:
        """Pass SIGHUP on; True when asked to stop."""
        stop = False
        while self._signals:
            signum = self._signals.pop(0)
            if signum == signal.SIGHUP:
                self._signal_workers(signal.SIGHUP)
            else:
                stop = True
        return stop

    def _sentinels(self) -> list[int]:
        return [slot.process.sentinel for slot in self._slots if slot.process is not None]

    def _next_due(self) -> float | None:
        dues = [slot.due for slot in self._slots if slot.due is not None]
        return max(0.0, min(dues) - time.monotonic()) if dues else None

    def _start_due(self) -> None:
        now = time.monotonic()
        for slot in self._slots:
            if slot.due is not None and slot.due <= now:
                process = self._context.Process(
                    target=run_worker, args=(self._server, self._sockets), daemon=True
                )
                process.start()
                slot.process, slot.started, slot.due = process, now, None

    def _reap(self) -> bool:
        """Schedule a replacement for each worker that died; True when it is hopeless."""
        now = time.monotonic()
        for slot in self._slots:
            process = slot.process
            if process is None or process.is_alive():
                continue
            lived = now - slot.started
            pause = slot.backoff.pause_after(lived)
            slot.process, slot.due = None, now + pause
            assert process.pid is not None
            self._on_death(process.pid)
            log.error(
                "worker %d exited (%s) after %.1fs; a new one starts %s",
                process.pid,
                _describe(process.exitcode),
                lived,
                "now" if pause == 0 else f"in {pause:g}s",
            )
        serving = any(slot.process is not None for slot in self._slots)
        return not serving and all(s.backoff.quick_deaths >= GIVE_UP_AFTER for s in self._slots)

    def _signal_workers(self, signum: int) -> None:
        for slot in self._slots:
            if slot.process is not None and slot.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):  # died: _reap will see it
                    os.kill(slot.process.pid, signum)

    def _stop(self) -> int:
        """Refuse new connections, stop every worker gracefully; the worst exit status."""
        for sock in self._sockets:
            sock.close()  # the workers close theirs as they stop: the port refuses at once
        self._signal_workers(signal.SIGTERM)
        deadline = time.monotonic() + self._grace + 2 * CLOSING_SECONDS
        processes = [slot.process for slot in self._slots if slot.process is not None]
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.error("worker %s did not stop in time: killed", process.pid)
                process.kill()
                process.join()
        # A worker still starting when SIGTERM came ends by it: as asked, not a failure.
        codes = [p.exitcode or 0 for p in processes if p.exitcode != -signal.SIGTERM]
        return max((abs(code) for code in codes), default=0)


def _describe(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit status {exitcode}"
