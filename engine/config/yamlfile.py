"""Read one YAML file strictly, remembering where every key and value starts.

Anchors, aliases and merge keys (`<<: *base`) work as in every YAML tool. What an alias
would expand to is measured on the composed graph before anything is copied, so an
"alias bomb" (a few lines that expand to billions of values) is refused at once, as
Kubernetes' reader does. A key given twice is a problem rather than a silent overwrite.
"""

from __future__ import annotations

from typing import Any, NoReturn

import yaml
from yaml.events import AliasEvent, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.config.aliases import MAX_DEPTH, AliasNode, ExpansionRefused, Measure, position
from engine.config.document import Document, Path, Position, Via

__all__ = ["MAX_DEPTH", "Document", "Path", "parse_yaml"]

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MERGE_MESSAGE = "a merge key '<<' takes a mapping or a list of mappings, e.g. <<: *defaults"

# One entry of a mapping: key text, key node, value node, and the alias it was merged by.
_Entry = tuple[str, ScalarNode, Node, Via | None]


class StrictLoader(yaml.SafeLoader):
    """A SafeLoader that keeps each alias as an AliasNode and bounds nesting.

    Composing is recursive, so nesting beyond MAX_DEPTH is refused: a 1 MiB file of `[`
    would otherwise exhaust the stack.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in the stubs
        if isinstance(event, AliasEvent):
            self.get_event()  # type: ignore[no-untyped-call]
            anchor = str(event.anchor)
            target = self.anchors.get(anchor)
            if target is None:
                self._refuse(f"alias *{anchor} has no anchor &{anchor} before it", event)
            return AliasNode(anchor, target, event.start_mark, event.end_mark)
        if isinstance(event, NodeEvent) and event.anchor in self.anchors:
            line, col = position(self.anchors[event.anchor].start_mark)
            self._refuse(f"anchor &{event.anchor} is defined twice (first at {line}:{col})", event)
        if self.depth >= MAX_DEPTH:
            self._refuse(f"nesting is deeper than {MAX_DEPTH} levels", event)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def _refuse(self, problem: str, event: Any) -> NoReturn:
        raise yaml.composer.ComposerError(None, None, problem, event.start_mark)


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
        document.add(_textposition(text, exc.position), f"YAML syntax error: {exc.reason}")
        return document
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        document.add(position(exc.problem_mark or exc.context_mark), _syntax_message(exc))
        return document
    finally:
        loader.dispose()
    if root is None:
        return document
    try:
        Measure().check(root)
    except ExpansionRefused as refused:
        document.add(refused.where, refused.message)
        return document
    document.data = _Walk(loader, document).node(root, ())
    return document


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    # "while parsing ..." context only restates where; other contexts carry the meaning.
    if exc.context and not exc.context.startswith("while") and exc.problem:
        return f"YAML syntax error: {exc.context}, {exc.problem}"
    return f"YAML syntax error: {exc.problem or exc.context}"


def _textposition(text: str, offset: int) -> Position:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


class _Walk:
    """Turns composed nodes into plain data while recording positions and problems."""

    def __init__(self, loader: StrictLoader, document: Document) -> None:
        self.loader = loader
        self.document = document

    def node(self, node: Node, path: Path) -> Any:
        if isinstance(node, AliasNode):
            via = self.document.via[path] = node.via()
            value = self.node(node.target, path)
            self.document.values[path] = via.alias_at  # the value as a whole is the alias
            return value
        self.document.values[path] = position(node.start_mark)
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

    def _unreadable(self, path: Path, message: str) -> None:
        """Report a value that cannot be read; it stands as null, and the schema skips it."""
        self.document.add(self.document.values[path], message, path)
        self.document.unreadable.add(path)

    def mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, key_node, value_node, via in self.entries(node, path):
            child = (*path, key)
            if key in result:
                self.document.add(position(key_node.start_mark), f"duplicate key {key!r}", child)
                continue
            self.document.keys[child] = position(key_node.start_mark)
            if via is not None:
                self.document.via[child] = via
            result[key] = self.node(value_node, child)
        return result

    def entries(self, node: MappingNode, path: Path) -> list[_Entry]:
        """The mapping's entries as written, with `<<` replaced by what it merges.

        Keys written in the mapping win over merged ones, and an earlier merged mapping
        wins over a later one, as YAML's merge key specifies.
        """
        written: list[_Entry | list[_Entry]] = []
        merges = 0
        for key_node, value_node in node.value:
            where = position(key_node.start_mark)
            if isinstance(key_node, ScalarNode) and key_node.tag == _MERGE_TAG:
                merges += 1
                if merges > 1:
                    self.document.add(where, "duplicate key '<<' (merge a list: <<: [*a, *b])")
                    continue
                written.append(self.merged(value_node, path))
            elif isinstance(key_node, ScalarNode):
                # Keys stay the text as written: `on:` or `404:` must not become True or 404.
                written.append((key_node.value, key_node, value_node, None))
            else:
                self.document.add(where, "a mapping key must be a plain value", path)
        taken = {entry[0] for entry in written if isinstance(entry, tuple)}
        entries: list[_Entry] = []
        for entry in written:
            if isinstance(entry, tuple):
                entries.append(entry)
                continue
            for merged in entry:
                if merged[0] not in taken:
                    taken.add(merged[0])
                    entries.append(merged)
        return entries

    def merged(self, value: Node, path: Path) -> list[_Entry]:
        """The entries a `<<` value brings: one mapping, or a list of them, in order."""
        sources = value.value if isinstance(value, SequenceNode) else [value]
        entries: list[_Entry] = []
        for source in sources:
            target = source.target if isinstance(source, AliasNode) else source
            if not isinstance(target, MappingNode) or target.tag != _MAP_TAG:
                self.document.add(position(source.start_mark), _MERGE_MESSAGE, path)
                continue
            via = source.via() if isinstance(source, AliasNode) else None
            entries += [
                (k, kn, vn, inner or via) for k, kn, vn, inner in self.entries(target, path)
            ]
        return entries
