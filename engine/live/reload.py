"""Config directory -> Snapshot, and keeping it current: build aside, then swap.

A reload re-reads every file, skips when the bytes hash the same, validates and
compiles a whole new Snapshot off to the side, and only then replaces the pointer.
Any failure leaves the serving Snapshot alone and is recorded for /admin/config.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.config import (
    ConfigInvalid,
    ConfigSource,
    Problem,
    load_config,
    problem_at,
    read_sources,
)
from engine.config.fragments import FRAGMENT_DIRS
from engine.config.settings import LISTENER_SETTINGS, SettingError, Settings
from engine.live.changes import changed_files, what_changed
from engine.live.history import ReloadHistory
from engine.live.lastgood import LastGood, fallback_state_dir, state_dir_of
from engine.observe.logs import configure_logging
from engine.providers import KINDS
from engine.snapshot.compile import UnknownDefaultProvider, ValueUnusable, compile_snapshot
from engine.snapshot.model import Snapshot
from engine.snapshot.templates import TemplateInvalid

log = logging.getLogger("patchbay.reload")

Outcome = Literal["applied", "unchanged", "rejected"]
VANISHED = "for the defaults, leave the file with only a comment in it"


def build_snapshot(
    source: ConfigSource,
    handlers: Mapping[str, str],
    environ: Mapping[str, str],
    overrides: Mapping[str, Any],
    discovered: Mapping[str, tuple[str, ...]] | None = None,
) -> Snapshot:
    """Validate and compile `source`; every way it can be wrong is a ConfigInvalid.

    `handlers` maps each handler name routes.yaml may use to its inbound wire format.
    """
    data = load_config(source, handlers=frozenset(handlers), kinds=KINDS.keys(), environ=environ)
    try:
        return compile_snapshot(
            source,
            data,
            environ=environ,
            overrides=overrides,
            discovered=discovered,
            wire_formats=handlers,
        )
    except ValueUnusable as exc:
        raise ConfigInvalid([problem_at(source, exc.file, exc.path, str(exc))]) from None
    except UnknownDefaultProvider as exc:
        raise ConfigInvalid([Problem("providers.yaml", 1, 1, str(exc))]) from None
    except SettingError as exc:
        raise ConfigInvalid([Problem("config/server.yaml", 1, 1, str(exc))]) from None
    except TemplateInvalid as exc:
        raise ConfigInvalid([Problem("routes.yaml", 1, 1, f"error template: {exc}")]) from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # The compiler trusts validated input; should validation have let something
        # through, the edit is refused like any bad edit instead of stopping the watcher.
        log.exception("the compiler failed on a config that passed validation")
        message = f"cannot compile: {type(exc).__name__}: {exc}"
        raise ConfigInvalid([Problem("providers.yaml", 1, 1, message)]) from None


@dataclass(slots=True)
class ReloadStatus:
    """What /admin/config shows besides the snapshot itself."""

    last_error: list[str] = field(default_factory=list)
    last_error_at: float | None = None
    last_attempt_at: float | None = None
    from_last_good: bool = False  # serving the persisted config because the files are broken
    restart_needed: list[str] = field(default_factory=list)
    reloads: dict[str, int] = field(
        default_factory=lambda: {"applied": 0, "unchanged": 0, "rejected": 0}
    )


class Reloader:
    """Owns the current Snapshot of one config directory.

    `snapshot` is only ever replaced whole, by one assignment, with a Snapshot built
    from files that validated; readers take it once and keep it for their request.
    """

    def __init__(
        self,
        directory: Path,
        *,
        handlers: Mapping[str, str],
        environ: Mapping[str, str],
        overrides: Mapping[str, Any],
    ) -> None:
        self.directory = directory
        self.handlers = handlers
        self.environ = environ
        self.overrides = overrides
        self.status = ReloadStatus()
        self.history = ReloadHistory()  # the last applied and rejected edits
        self.discovered: dict[str, tuple[str, ...]] = {}
        # Told of every snapshot swapped in, on the event loop (the worker's tracing).
        self.followers: list[Callable[[Snapshot], None]] = []
        self._rejected: str | None = None  # hash of bytes that failed: not checked again
        # What the last reload read: fingerprint() of the directory at that moment.
        self.last_read = ""
        self.snapshot, source = self._initial()
        self._served = source  # the files behind `snapshot`
        # What this process listens with; a config that differs needs a restart.
        self._listening = self.snapshot.settings.listener()
        if not self.status.from_last_good:
            self._persist(source, self.snapshot)
        self._lock = asyncio.Lock()

    def _initial(self) -> tuple[Snapshot, ConfigSource]:
        """The files on disk, else (loudly) the last good config, else the errors."""
        try:
            source = read_sources(self.directory)
            return build_snapshot(source, self.handlers, self.environ, self.overrides), source
        except ConfigInvalid as invalid:
            state_dir = fallback_state_dir(self.directory, self.environ, self.overrides)
            stored = LastGood(state_dir).load()
            if stored is None:
                raise
            try:
                snapshot = build_snapshot(stored, self.handlers, self.environ, self.overrides)
            except ConfigInvalid:
                raise invalid from None  # the files' problems are the ones to fix
            # Said once, loudly, by the start-up summary (engine/site/summary.py).
            self._record(invalid, None)
            self.history.add("rejected", snapshot.hash, self.status.last_error)
            self.status.from_last_good = True
            return snapshot, stored

    async def reload(self, *, force: bool = False) -> Outcome:
        """Re-read the directory and swap in a new Snapshot when it changed and is valid.

        `force` rebuilds even when the bytes are the ones served or last rejected.
        """
        async with self._lock:
            self.status.last_attempt_at = time.time()
            build = asyncio.ensure_future(asyncio.to_thread(self._build, force))
            try:
                outcome = await asyncio.shield(build)
            except asyncio.CancelledError:
                # A thread cannot be stopped: let it finish, so no swap or save
                # happens after whoever cancelled (a shutdown) thinks reloading is over.
                self._swapped(await build)
                raise
            self._swapped(outcome)
            return outcome

    def _swapped(self, outcome: Outcome) -> None:
        if outcome == "applied":
            for follower in self.followers:
                follower(self.snapshot)

    def _build(self, force: bool) -> Outcome:
        source: ConfigSource | None = None
        try:
            source = read_sources(self.directory)
            self.last_read = source.hash
            if source.hash == self.snapshot.hash and not force:
                if self.status.last_error:  # a bad edit was reverted
                    log.info(
                        "config fixed: the files are back to the served config %s",
                        self.snapshot.hash[:12],
                        extra={"fields": {"event": "config_fixed", "hash": self.snapshot.hash}},
                    )
                self._clear_error()
                return self._counted("unchanged")
            if source.hash == self._rejected and not force:
                return self._counted("unchanged")  # the same bad bytes: the error stands
            self._refuse_vanished(source)
            fresh = build_snapshot(
                source, self.handlers, self.environ, self.overrides, self.discovered
            )
        except ConfigInvalid as invalid:
            if source is None:
                self.last_read = str(invalid)
            self._reject(invalid, source)
            return self._counted("rejected")
        self._note_listener_changes(fresh)
        # Disk and status first: whoever sees the new snapshot can rely on both.
        self._persist(source, fresh)
        fixed = bool(self.status.last_error)
        self._clear_error()
        self._counted("applied")
        previous, served = self.snapshot, self._served
        self.snapshot = fresh  # the swap: one assignment
        self._served = source
        if logging_of(fresh.settings) != logging_of(previous.settings):
            configure_logging(*logging_of(fresh.settings))  # logging lives outside the snapshot
        changes = what_changed(previous, fresh) or ["nothing served changed"]
        self.history.add("applied", fresh.hash, changes)
        self._log_applied(served, fresh, source, changes, fixed)
        return "applied"

    def _log_applied(
        self,
        served: ConfigSource,
        fresh: Snapshot,
        source: ConfigSource,
        changes: list[str],
        fixed: bool,
    ) -> None:
        files = changed_files(served, source)
        log.info(
            "config %s applied%s: %s changed: %s",
            fresh.hash[:12],
            " (the errors are fixed)" if fixed else "",
            ", ".join(files) or "no file",
            "; ".join(changes),
            extra={
                "fields": {
                    "event": "config_applied",
                    "hash": fresh.hash,
                    "files": files,
                    "changes": changes,
                    "fixed": fixed,
                }
            },
        )

    def _refuse_vanished(self, source: ConfigSource) -> None:
        """A served file that is now missing or empty is a change in progress, never applied.

        In-place saves truncate before they write, and a directory being replaced loses
        its files one by one; without config/server.yaml (or with it empty) the config
        is valid, all defaults and auth off, so that moment must not pass for intent.
        """
        vanished = []
        for name, served in self._served.files.items():
            now = source.files.get(name)
            if now is None and name.split("/")[0] in FRAGMENT_DIRS.values():
                continue  # a file of providers.d/ or routes.d/ is removed by deleting it
            if served.strip() and not (now or b"").strip():
                what = "vanished" if now is None else "became empty"
                message = f"file {what}; taken as a change in progress ({VANISHED})"
                vanished.append(Problem(name, 1, 1, message))
        if vanished:
            raise ConfigInvalid(vanished)

    def _counted(self, outcome: Outcome) -> Outcome:
        self.status.reloads[outcome] += 1
        return outcome

    def _reject(self, invalid: ConfigInvalid, source: ConfigSource | None) -> None:
        errors = [str(p) for p in invalid.problems]
        if errors != self.status.last_error:  # log once per change, not once per event
            log.error(
                "config rejected, still serving %s:\n%s",
                self.snapshot.hash[:12],
                "\n".join(errors),
                extra={"fields": {"event": "config_rejected", "problems": errors}},
            )
        self._record(invalid, source)
        self.history.add("rejected", self.snapshot.hash, errors)

    def _record(self, invalid: ConfigInvalid, source: ConfigSource | None) -> None:
        self.status.last_error = [str(p) for p in invalid.problems]
        self.status.last_error_at = time.time()
        self._rejected = source.hash if source else None

    def _clear_error(self) -> None:
        self.status.last_error = []
        self.status.from_last_good = False
        self._rejected = None

    def _persist(self, source: ConfigSource, snapshot: Snapshot) -> None:
        LastGood(state_dir_of(self.directory, snapshot.settings.state_dir)).save(source)

    def _note_listener_changes(self, fresh: Snapshot) -> None:
        changed = [
            name
            for name, started, wanted in zip(
                LISTENER_SETTINGS, self._listening, fresh.settings.listener(), strict=True
            )
            if started != wanted
        ]
        for name in set(changed) - set(self.status.restart_needed):
            log.warning("%s changed in config: it takes effect after a restart", name)
        self.status.restart_needed = changed

    def describe(self) -> dict[str, Any]:
        """The reloader's last word for /admin/config; never a secret."""
        status = self.status
        return {
            "config_dir": str(self.directory),
            "serving_last_good": status.from_last_good,
            "last_error": [self.snapshot.redact(error) for error in status.last_error] or None,
            "last_error_at": status.last_error_at,
            "last_attempt_at": status.last_attempt_at,
            "restart_needed": status.restart_needed,
            "reloads": status.reloads,
        }


def logging_of(settings: Settings) -> tuple[str, str, int]:
    """configure_logging's arguments for `settings`: level, format, worker count."""
    level = "debug" if settings.debug else settings.log_level
    return level, settings.log_format, settings.workers


def fingerprint(directory: Path) -> str:
    """The config files' content hash, or why they cannot be read (as `last_read` keeps it)."""
    try:
        return read_sources(directory).hash
    except ConfigInvalid as invalid:
        return str(invalid)
