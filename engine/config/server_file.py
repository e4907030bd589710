"""The flat settings config/server.yaml itself sets, read without the other files.

For what must know the file's word apart from the command line and the environment:
the start-up lines naming each setting a variable or a flag overrides, and the
container health check (which needs the port and base_url the server listens with).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.config.sources import MAX_FILE_SIZE
from engine.config.yamlfile import parse_yaml

SERVER_FILE = "config/server.yaml"


def server_file_values(directory: Path) -> dict[str, Any]:
    """The top-level scalar settings of `directory`/config/server.yaml; {} when the file is
    missing, unreadable or not a mapping (validation is the loader's job)."""
    try:
        with (directory / SERVER_FILE).open("rb") as handle:
            raw = handle.read(MAX_FILE_SIZE + 1)
    except OSError:
        return {}
    data = parse_yaml(SERVER_FILE, raw).data
    if len(raw) > MAX_FILE_SIZE or not isinstance(data, Mapping):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str | int | float | bool)}
