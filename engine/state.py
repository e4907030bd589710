"""The last good config, kept on disk so a restart with broken files still serves."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from engine.config import ConfigInvalid, ConfigSource, read_sources

log = logging.getLogger("patchbay.state")


class LastGood:
    """A copy of the files of the last config that compiled, under `<state_dir>/last-good`."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "last-good"

    def save(self, source: ConfigSource) -> None:
        """Write each file atomically; failing to persist is logged, never fatal."""
        try:
            for name, data in source.files.items():
                target = self.directory / name
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, target)
            for stale in ("routes.yaml", "providers.yaml", "config/server.yaml"):
                if stale not in source.files:
                    (self.directory / stale).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not persist the last good config to %s: %s", self.directory, exc)

    def load(self) -> ConfigSource | None:
        if not (self.directory / "providers.yaml").exists():
            return None
        try:
            return read_sources(self.directory)
        except ConfigInvalid:
            return None
