"""Read the raw bytes of a config directory, once, so every later step sees one version."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from engine.config.fragments import FRAGMENT_DIRS
from engine.config.problems import ConfigInvalid, Problem

MAX_FILE_SIZE: int = 1024 * 1024
MAX_FRAGMENTS = 256  # files in one providers.d/ or routes.d/
REQUIRED_FILES = ("routes.yaml", "providers.yaml")
OPTIONAL_FILES = ("config/server.yaml",)
OUTSIDE = "is a symlink that leads outside the config directory; it is not followed"


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """The config files' bytes by relative name, and a hash that changes when any byte does."""

    directory: Path
    files: Mapping[str, bytes]
    hash: str


def read_sources(directory: Path) -> ConfigSource:
    """Read routes.yaml, providers.yaml, (if present) config/server.yaml and the
    `*.yaml` files of providers.d/ and routes.d/ from `directory`.

    Symlinks are followed within the directory, so a Kubernetes `..data` swap is read as
    the new version; one that leads outside it is not followed (its target's text would
    reach error messages, and they are shown on pages). Raises ConfigInvalid when a
    required file is missing or unreadable, a file leads outside, or any file is larger
    than MAX_FILE_SIZE.
    """
    files: dict[str, bytes] = {}
    problems: list[Problem] = []
    fragments = [
        name for folder in FRAGMENT_DIRS.values() for name in _fragments(directory, folder)
    ]
    root = directory.resolve()
    for name in REQUIRED_FILES + OPTIONAL_FILES + tuple(fragments):
        path = (directory / name).resolve()  # read where it leads: checked and read alike
        if not path.is_relative_to(root):
            problems.append(Problem(name, 1, 1, OUTSIDE))
            continue
        try:
            with path.open("rb") as handle:
                # One byte past the cap is enough to know the file is too large.
                raw = handle.read(MAX_FILE_SIZE + 1)
        except FileNotFoundError:
            if name in REQUIRED_FILES:
                problems.append(Problem(name, 1, 1, f"file not found in {directory}"))
            continue
        except OSError as exc:
            problems.append(Problem(name, 1, 1, f"cannot read file: {exc.strerror or exc}"))
            continue
        if len(raw) > MAX_FILE_SIZE:
            problems.append(Problem(name, 1, 1, f"file is larger than {MAX_FILE_SIZE} bytes"))
            continue
        files[name] = raw
    if problems:
        raise ConfigInvalid(problems)
    return ConfigSource(directory, MappingProxyType(files), _digest(files))


def _fragments(directory: Path, folder: str) -> list[str]:
    """`folder/NAME.yaml` for each YAML file in `folder`, in name order; dot-files (editor
    leftovers, a ConfigMap's `..data`) are not config."""
    try:
        names = sorted(
            entry.name
            for entry in (directory / folder).iterdir()
            if entry.name.endswith(".yaml") and not entry.name.startswith(".")
        )
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise ConfigInvalid(
            [Problem(folder, 1, 1, f"cannot list: {exc.strerror or exc}")]
        ) from None
    if len(names) > MAX_FRAGMENTS:
        message = f"holds {len(names)} YAML files, more than the {MAX_FRAGMENTS} allowed"
        raise ConfigInvalid([Problem(folder, 1, 1, message)])
    return [f"{folder}/{name}" for name in names]


def _digest(files: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        # Lengths keep the boundaries unambiguous: no two file sets hash alike by concatenation.
        digest.update(f"{name}\0{len(files[name])}\0".encode())
        digest.update(files[name])
    return digest.hexdigest()
