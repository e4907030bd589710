"""Split configs: `providers.d/*.yaml` and `routes.d/*.yaml` merged into their main file.

Fragments are read in name order after the main file. Named entries (providers,
aliases, search engines, error templates, each key of `defaults`) merge one by one and
may be defined in one file only; routes are appended in order. The merged Document
remembers which file wrote each entry, so every later problem names the right file and
the entry's path as that file spells it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from engine.config.document import Document, Path
from engine.config.problems import yaml_path

FRAGMENT_DIRS = {"providers.yaml": "providers.d", "routes.yaml": "routes.d"}

# Mappings whose entries merge one by one, by file kind; anything else is given once.
_MERGED: dict[str, Collection[Path]] = {
    "providers": {
        (),
        ("defaults",),
        ("providers",),
        ("aliases",),
        ("search",),
        ("search", "engines"),
    },
    "routes": {(), ("errors",)},
}
_APPENDED: dict[str, Collection[Path]] = {"providers": (), "routes": {("routes",)}}
_NAMED: dict[Path, str] = {
    ("providers",): "provider",
    ("aliases",): "alias",
    ("search", "engines"): "search engine",
    ("errors",): "error template",
}
_ABSENT = object()


def fragment_names(main: str, names: Collection[str]) -> list[str]:
    """The fragments of `main` among the config's file names, in the order they merge."""
    directory = FRAGMENT_DIRS.get(main)
    if directory is None:
        return []
    return sorted(name for name in names if name.startswith(directory + "/"))


def merge_documents(kind: str, documents: list[Document]) -> Document:
    """One Document holding every file's entries; a name given twice is a problem.

    When any file could not be read as a mapping (its problem is reported already), the
    result has no data: nothing further can be said.
    """
    merged = Document(documents[0].name, data={})
    for document in documents:
        merged.problems.extend(document.problems)
    if any(not isinstance(document.data, dict) for document in documents):
        merged.data = None
        return merged
    for document in documents:
        _Merge(kind, merged, document).run()
    return merged


class _Merge:
    """Merges one file into the merged Document."""

    def __init__(self, kind: str, merged: Document, document: Document) -> None:
        self.kind = kind
        self.merged = merged
        self.document = document
        self.offsets: dict[Path, int] = {}  # list path -> index of this file's first item

    def run(self) -> None:
        self.mapping(self.merged.data, self.document.data, ())
        self.copy_positions()

    def mapping(self, target: dict[str, Any], source: Mapping[str, Any], path: Path) -> None:
        for key, value in source.items():
            child = (*path, key)
            existing = target.get(key, _ABSENT)
            if child in _MERGED[self.kind] and _fits(value, existing, dict):
                self.claim(child, child)
                self.mapping(target.setdefault(key, {}), value, child)
            elif child in _APPENDED[self.kind] and _fits(value, existing, list):
                self.claim(child, child)
                items = target.setdefault(key, [])
                self.offsets[child] = len(items)
                for i, item in enumerate(value):
                    self.claim((*child, len(items)), (*child, i))
                    items.append(item)
            elif existing is _ABSENT:
                self.claim(child, child)
                target[key] = value
            else:
                self.conflict(path, child)

    def claim(self, merged_path: Path, local: Path) -> None:
        """`merged_path` was written by this file as `local` (the first file keeps a container)."""
        self.merged.parts.setdefault(merged_path, (self.document.name, local))

    def conflict(self, parent: Path, child: Path) -> None:
        what = _NAMED.get(parent)
        label = f"{what} {child[-1]!r}" if what else f"{yaml_path(child)!r}"
        first_file, _ = self.merged.locate(child)
        line, col = self.merged.key_at(child)
        message = f"{label} is already defined in {first_file}:{line}:{col}"
        self.merged.problems.append(
            self.document.problem(self.document.key_at(child), message, child)
        )

    def copy_positions(self) -> None:
        """This file's positions, under the paths its entries have in the merged data."""
        for source, target in (
            (self.document.values, self.merged.values),
            (self.document.keys, self.merged.keys),
        ):
            for path, where in source.items():
                target.setdefault(self.rekey(path), where)
        for path, via in self.document.via.items():
            self.merged.via.setdefault(self.rekey(path), via)
        self.merged.unreadable.update(self.rekey(path) for path in self.document.unreadable)

    def rekey(self, path: Path) -> Path:
        for prefix, offset in self.offsets.items():
            n = len(prefix)
            index = path[n] if len(path) > n else None
            if path[:n] == prefix and isinstance(index, int):
                return (*prefix, index + offset, *path[n + 1 :])
        return path


def _fits(value: Any, existing: Any, kind: type) -> bool:
    return isinstance(value, kind) and (existing is _ABSENT or isinstance(existing, kind))
