"""Read one YAML file strictly, remembering where every key and value starts.

The positions let a schema error's path become `file:line:col`. Anchors and aliases
are refused (they hide where a value comes from and allow "billion laughs" blow-ups),
and a key given twice is a problem rather than a silent overwrite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import AliasEvent, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.config.problems import PathPart, Problem, yaml_path

Path = tuple[PathPart, ...]
ANCHOR_MESSAGE = "YAML anchors and aliases are not allowed"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_ALIAS_TAG = "tag:patchbay.invalid,2024:alias"
MAX_DEPTH = 32


@dataclass(slots=True)
class Document:
    """A parsed file: its data, where each value and key starts, and what was wrong."""

    name: str
    data: Any = None
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Where a value could not be read (an alias, an odd tag); it is reported already,
    # so schema errors there would only be noise.
    unreadable: set[Path] = field(default_factory=set)

    def value_at(self, path: Path) -> tuple[int, int]:
        """Position of the value at `path`, else of its nearest recorded ancestor."""
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, (1, 1))

    def key_at(self, path: Path) -> tuple[int, int]:
        """Position of the key that names `path`, else of the value."""
        return self.keys.get(path) or self.value_at(path)

    def problem(self, where: tuple[int, int], message: str, path: Path = ()) -> Problem:
        return Problem(self.name, where[0], where[1], message, yaml_path(path))

    def add(self, where: tuple[int, int], message: str, path: Path = ()) -> None:
        self.problems.append(self.problem(where, message, path))


def _position(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


class StrictLoader(yaml.SafeLoader):
    """A SafeLoader that marks anchors and aliases instead of following them.

    Anchored positions are collected in `anchored`; an alias becomes a stand-in node whose
    value says whether its anchor was defined. Nesting beyond MAX_DEPTH is refused, since
    composing is recursive and a 1 MiB file of `[` would otherwise exhaust the stack.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        # (position, is a mapping key): a block mapping starts where its first key does.
        self.anchored: set[tuple[tuple[int, int], bool]] = set()
        self.depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in the stubs
        if isinstance(event, AliasEvent):
            self.get_event()  # type: ignore[no-untyped-call]
            known = "" if event.anchor in self.anchors else "undefined"
            return ScalarNode(_ALIAS_TAG, known, event.start_mark, event.end_mark)  # type: ignore[arg-type]
        if isinstance(event, NodeEvent) and event.anchor is not None:
            is_key = isinstance(parent, MappingNode) and index is None
            self.anchored.add((_position(event.start_mark), is_key))
        if self.depth >= MAX_DEPTH:
            problem = f"nesting is deeper than {MAX_DEPTH} levels"
            raise yaml.composer.ComposerError(None, None, problem, event.start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def parse_yaml(name: str, raw: bytes) -> Document:
    """Parse `raw` into a Document; problems are collected, never raised."""
    document = Document(name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        document.add((line, col), "file is not valid UTF-8")
        return document
    try:
        loader = StrictLoader(text)
    except yaml.reader.ReaderError as exc:
        document.add(_text_position(text, exc.position), f"YAML syntax error: {exc.reason}")
        return document
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        document.add(_position(exc.problem_mark or exc.context_mark), _syntax_message(exc))
        return document
    finally:
        loader.dispose()
    if root is not None:
        document.data = _Walk(loader, document).node(root, ())
    return document


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    # "while parsing ..." context only restates where; other contexts carry the meaning.
    if exc.context and not exc.context.startswith("while") and exc.problem:
        return f"YAML syntax error: {exc.context}, {exc.problem}"
    return f"YAML syntax error: {exc.problem or exc.context}"


def _text_position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


class _Walk:
    """Turns composed nodes into plain data while recording positions and problems."""

    def __init__(self, loader: StrictLoader, document: Document) -> None:
        self.loader = loader
        self.document = document

    def node(self, node: Node, path: Path) -> Any:
        where = self.document.values[path] = _position(node.start_mark)
        if (where, False) in self.loader.anchored or node.tag == _ALIAS_TAG:
            # An undefined alias has no anchor to report it, so it reports itself.
            if node.tag != _ALIAS_TAG or node.value == "undefined":
                self.document.add(where, ANCHOR_MESSAGE, path)
            if node.tag == _ALIAS_TAG:
                return self._unreadable(path)
        if isinstance(node, MappingNode | SequenceNode):
            if node.tag not in (_MAP_TAG, _SEQ_TAG):
                return self._unreadable(path, f"unsupported YAML tag {node.tag}")
            if isinstance(node, MappingNode):
                return self.mapping(node, path)
            return [self.node(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            return self._unreadable(path, f"unsupported YAML value: {exc.problem}")

    def _unreadable(self, path: Path, message: str | None = None) -> None:
        """Report a value that cannot be read; it stands as null, and the schema skips it."""
        if message is not None:
            self.document.add(self.document.values[path], message, path)
        self.document.unreadable.add(path)

    def mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            where = _position(key_node.start_mark)
            if (where, True) in self.loader.anchored:
                self.document.add(where, ANCHOR_MESSAGE, path)
            if not isinstance(key_node, ScalarNode) or key_node.tag == _ALIAS_TAG:
                self.document.add(where, "a mapping key must be a plain value", path)
                continue
            # Keys stay the text as written: `on:` or `404:` must not become True or 404.
            key: str = key_node.value
            child = (*path, key)
            if key in result:
                self.document.add(where, f"duplicate key {key!r}", child)
                continue
            self.document.keys[child] = where
            result[key] = self.node(value_node, child)
        return result
