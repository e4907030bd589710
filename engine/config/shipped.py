"""The shipped config, the commented routes.yaml, providers.yaml and config/server.yaml
that `patchbay init` copies into a new config directory.

A wheel carries them as package data (engine/shipped/); a checkout, and an editable
install of it, has them at the top of the repository, itself a config directory.
"""

from __future__ import annotations

from pathlib import Path

SHIPPED_FILES = ("routes.yaml", "providers.yaml", "config/server.yaml")


class ShippedMissing(FileNotFoundError):
    """This installation carries no shipped config (a build that left it out)."""


def shipped_dir() -> Path:
    """Where this installation keeps the shipped files."""
    package = Path(__file__).resolve().parent.parent  # engine/
    for candidate in (package / "shipped", package.parent):
        if all((candidate / name).is_file() for name in SHIPPED_FILES):
            return candidate
    raise ShippedMissing(f"the shipped config files are missing (looked beside {package})")


def write_starter(directory: Path, *, force: bool = False) -> list[Path]:
    """Copy the shipped files into `directory` (made when missing); the paths written.

    Raises FileExistsError naming the first file that exists, unless `force`.
    """
    source = shipped_dir()
    targets = [directory / name for name in SHIPPED_FILES]
    if not force:
        for target in targets:
            if target.exists():
                raise FileExistsError(f"{target} exists")
    for name, target in zip(SHIPPED_FILES, targets, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((source / name).read_bytes())
    return targets
