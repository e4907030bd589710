"""Read-only registries of kinds (provider kinds, search-engine kinds), built once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TypeVar

K = TypeVar("K")


def registry(kinds: Iterable[K], name_of: Callable[[K], str], what: str) -> Mapping[str, K]:
    """A read-only name -> kind map; registering a name twice is a programming error."""
    table: dict[str, K] = {}
    for kind in kinds:
        name = name_of(kind)
        if name in table:
            raise ValueError(f"{what} {name!r} is registered twice")
        table[name] = kind
    return MappingProxyType(table)
