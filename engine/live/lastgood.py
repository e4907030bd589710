"""The last good config, kept on disk so a restart with broken files still serves.

`<state_dir>/last-good` is a symlink to a directory named after the config's hash.
A save writes a complete new directory, then swaps the symlink in one rename (the
way Kubernetes swaps `..data`), so a reader never sees files from two versions, even
while several workers save at once. The target is itself a config directory:
`patchbay check --config-dir <state_dir>/last-good` works on it.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.config import MAX_FILE_SIZE, ConfigInvalid, ConfigSource, read_sources, resolve_env
from engine.config.settings import Settings
from engine.config.yamlfile import parse_yaml

log = logging.getLogger("patchbay.state")

KEPT_VERSIONS = 3  # older copies go; a few stay for workers still swapping to them


class LastGood:
    """The files of the last config that compiled, under `<state_dir>/last-good`."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.link = state_dir / "last-good"

    def save(self, source: ConfigSource) -> None:
        """Persist `source` as the last good config; failing to is logged, never fatal."""
        version = f"last-good.{source.hash[:16]}"
        try:
            if self.link.is_symlink() and os.readlink(self.link) == version:
                return  # another worker (or an earlier reload) saved these bytes already
            self._write(version, source)
            self._point_to(version)
            self._prune(version)
        except OSError as exc:
            log.warning("could not persist the last good config to %s: %s", self.link, exc)

    def load(self) -> ConfigSource | None:
        """The saved config, or None when there is none (or it cannot be read)."""
        if not (self.link / "providers.yaml").exists():
            return None
        try:
            return read_sources(self.link)
        except ConfigInvalid:
            return None

    def _write(self, version: str, source: ConfigSource) -> None:
        target = self.state_dir / version
        if target.is_dir():
            return
        # Never parents: a config directory deleted meanwhile must not be brought back.
        self.state_dir.mkdir(exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.state_dir, prefix=".staging-"))
        for name, data in source.files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_bytes(data)
        try:
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not target.is_dir():
                raise
            # else another worker renamed the same bytes into place first

    def _point_to(self, version: str) -> None:
        pending = self.state_dir / f".last-good-{secrets.token_hex(4)}"
        os.symlink(version, pending)
        if self.link.is_dir() and not self.link.is_symlink():
            shutil.rmtree(self.link)  # a plain directory left by an older layout
        os.replace(pending, self.link)

    def _prune(self, current: str) -> None:
        versions = sorted(self.state_dir.glob("last-good.*"), key=_modified, reverse=True)
        for old in versions[KEPT_VERSIONS:]:
            if old.name != current:
                shutil.rmtree(old, ignore_errors=True)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0  # pruned by another worker meanwhile


def state_dir_of(directory: Path, name: str) -> Path:
    """The setting `state_dir` as a path: relative to the config directory, or absolute."""
    return directory / name


def fallback_state_dir(
    directory: Path, environ: Mapping[str, str], overrides: Mapping[str, Any]
) -> Path:
    """Where the last good config lives when the files cannot be compiled.

    Same precedence as the setting (command line > environment > server.yaml >
    default), with server.yaml read on its own since another file may be the broken one.
    """
    name = overrides.get("state_dir") or environ.get("PATCHBAY_STATE_DIR")
    if not name:
        try:
            with (directory / "config" / "server.yaml").open("rb") as handle:
                data = parse_yaml("config/server.yaml", handle.read(MAX_FILE_SIZE)).data
        except OSError:
            data = None
        declared = data.get("state_dir") if isinstance(data, dict) else None
        name = resolve_env(declared, environ) if isinstance(declared, str) else None
    return state_dir_of(directory, str(name or Settings().state_dir))
