"""What YAML aliases expand to, measured without expanding them.

An alias stays an AliasNode (the use, with its own position) pointing at its anchored
node. Sizes and heights are computed once per node on that graph, so a few lines that
would expand to billions of values ("alias bombs") are refused in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from yaml.nodes import MappingNode, Node, SequenceNode

from engine.config.document import Position, Via

ALIAS_TAG = "tag:patchbay.invalid,2024:alias"
MAX_DEPTH = 32
# Values a file may hold once its aliases are expanded (a file without aliases may hold
# as many as it has written): far above any real config, far below a blow-up.
MAX_EXPANDED = 100_000


def position(mark: Any) -> Position:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


class AliasNode(Node):
    """One use of an anchored node, kept apart so that it knows where it was written."""

    def __init__(self, anchor: str, target: Node, start_mark: Any, end_mark: Any) -> None:
        super().__init__(ALIAS_TAG, target, start_mark, end_mark)
        self.anchor = anchor
        self.target = target

    def via(self) -> Via:
        return Via(self.anchor, position(self.start_mark), position(self.target.start_mark))


class ExpansionRefused(Exception):
    """What the aliases of a file would expand to is too large, too deep or endless."""

    def __init__(self, where: Position, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


class Measure:
    """Size and height of every node once aliases are expanded, each node visited once.

    An anchor always comes before its aliases, so an alias's target is measured already
    (or still open, which means the alias sits inside its own anchor: a loop).
    """

    def __init__(self) -> None:
        self.sizes: dict[int, tuple[int, int]] = {}
        self.open: set[int] = set()
        self.biggest: tuple[int, AliasNode] | None = None
        self.deepest: tuple[int, AliasNode] | None = None

    def check(self, root: Node) -> None:
        size, height = self.visit(root)
        written = len(self.sizes)
        if size > max(MAX_EXPANDED, written) and self.biggest is not None:
            alias = self.biggest[1]
            raise ExpansionRefused(
                position(alias.start_mark),
                f"YAML aliases expand this file to {size:,} values, more than the "
                f"{MAX_EXPANDED:,} allowed (*{alias.anchor} alone stands for {self.biggest[0]:,})",
            )
        if height > MAX_DEPTH and self.deepest is not None:
            alias = self.deepest[1]
            raise ExpansionRefused(
                position(alias.start_mark),
                f"nesting is deeper than {MAX_DEPTH} levels once aliases are expanded "
                f"(*{alias.anchor} alone is {self.deepest[0]} deep)",
            )

    def visit(self, node: Node) -> tuple[int, int]:
        if isinstance(node, AliasNode):
            return self.alias(node)
        known = self.sizes.get(id(node))
        if known is not None:
            return known
        self.open.add(id(node))
        size, height = 1, 1
        for child in _children(node):
            child_size, child_height = self.visit(child)
            size += child_size
            height = max(height, child_height + 1)
        self.open.discard(id(node))
        self.sizes[id(node)] = (size, height)
        return size, height

    def alias(self, alias: AliasNode) -> tuple[int, int]:
        if id(alias.target) in self.open:
            raise ExpansionRefused(
                position(alias.start_mark),
                f"alias *{alias.anchor} is inside its own anchor, so it never ends",
            )
        size, height = self.visit(alias.target)
        if self.biggest is None or size > self.biggest[0]:
            self.biggest = (size, alias)
        if self.deepest is None or height > self.deepest[0]:
            self.deepest = (height, alias)
        return size, height


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value
    elif isinstance(node, SequenceNode):
        yield from node.value
