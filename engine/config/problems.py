"""What is wrong with a config, and where: file, line, column and YAML path."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PathPart = str | int
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in one config file; `line` and `col` are 1-based."""

    file: str
    line: int
    col: int
    message: str
    path: str = ""
    via: str = ""  # the alias and anchor a value inside a shared block came through

    def __str__(self) -> str:
        notes = [note for note in (f"at {self.path}" if self.path else "", self.via) if note]
        where = f" ({'; '.join(notes)})" if notes else ""
        return f"{self.file}:{self.line}:{self.col}: {self.message}{where}"


class ConfigInvalid(Exception):
    """The config cannot take effect; `problems` holds every problem found, in file order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(
            sorted(problems, key=lambda p: (p.file, p.line, p.col, p.message, p.path, p.via))
        )
        super().__init__("\n".join(str(p) for p in self.problems))


def yaml_path(parts: Sequence[PathPart]) -> str:
    """Render a path like `providers.openai.models[2].id`; odd keys are quoted."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text
