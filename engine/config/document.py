"""A parsed config file: its data, where every key and value was written, what is wrong.

Positions let a schema error's path become `file:line:col`. A value that came through a
YAML alias also remembers the alias and its anchor, so an error inside a shared block
names both. A Document may be the merge of several files (`providers.d/*.yaml`): then
`parts` says which file, and which path in it, each merged entry came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.config.problems import PathPart, Problem, yaml_path

Path = tuple[PathPart, ...]
Position = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Via:
    """The alias a value was reached through: where it is used and where its anchor is."""

    anchor: str
    alias_at: Position
    anchor_at: Position

    def __str__(self) -> str:
        (al, ac), (nl, nc) = self.alias_at, self.anchor_at
        return f"alias *{self.anchor} at {al}:{ac}, anchor &{self.anchor} at {nl}:{nc}"


@dataclass(slots=True)
class Document:
    """A parsed file (or several merged): data, positions by path, and its problems."""

    name: str
    data: Any = None
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Where a value could not be read (an odd tag); it is reported already, so schema
    # errors there would only be noise.
    unreadable: set[Path] = field(default_factory=set)
    via: dict[Path, Via] = field(default_factory=dict)
    # Merged documents only: path prefix -> (file, the same entry's path in that file).
    parts: dict[Path, tuple[str, Path]] = field(default_factory=dict)

    def value_at(self, path: Path) -> Position:
        """Position of the value at `path`, else of its nearest recorded ancestor."""
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, (1, 1))

    def key_at(self, path: Path) -> Position:
        """Position of the key that names `path`, else of the value."""
        return self.keys.get(path) or self.value_at(path)

    def locate(self, path: Path) -> tuple[str, Path]:
        """The file that wrote `path`, and the path as that file spells it."""
        for length in range(len(path), -1, -1):
            found = self.parts.get(path[:length])
            if found is not None:
                return found[0], (*found[1], *path[length:])
        return self.name, path

    def origin(self, path: Path) -> Via | None:
        """The innermost alias that brought the value at `path`, if any."""
        for length in range(len(path), -1, -1):
            via = self.via.get(path[:length])
            if via is not None:
                return via
        return None

    def problem(self, where: Position, message: str, path: Path = ()) -> Problem:
        file, local = self.locate(path)
        via = self.origin(path)
        return Problem(file, where[0], where[1], message, yaml_path(local), str(via or ""))

    def add(self, where: Position, message: str, path: Path = ()) -> None:
        self.problems.append(self.problem(where, message, path))
