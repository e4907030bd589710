"""Config files -> one validated dict, or every problem with its file, line and column.

    source = read_sources(Path("."))
    data = load_config(source, handlers={"chat.completions"}, kinds={"openai"})

`${VAR}` strings are left as written; the compiler resolves them with `resolve_env`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from engine.config import policies, references
from engine.config.document import Document
from engine.config.envref import env_refs, resolve_env
from engine.config.fragments import FRAGMENT_DIRS, fragment_names, merge_documents
from engine.config.problems import ConfigInvalid, PathPart, Problem
from engine.config.schema import load_schema, validate
from engine.config.sources import MAX_FILE_SIZE, ConfigSource, read_sources
from engine.config.yamlfile import parse_yaml

__all__ = [
    "FRAGMENT_DIRS",
    "MAX_FILE_SIZE",
    "ConfigInvalid",
    "ConfigSource",
    "Problem",
    "env_refs",
    "load_config",
    "problem_at",
    "read_sources",
    "resolve_env",
]

# Each file: its key in the result (also its schema's name), and whether it must exist.
FILES = {
    "routes.yaml": ("routes", True),
    "providers.yaml": ("providers", True),
    "config/server.yaml": ("server", False),
}


def load_config(
    source: ConfigSource,
    *,
    handlers: Collection[str],
    kinds: Collection[str],
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Parse, schema-check and cross-check every file of `source`.

    Returns {"routes": ..., "providers": ..., "server": ...} (server is {} when the file
    is absent or empty), with `providers.d/` and `routes.d/` merged in. Given `environ`,
    every `${NAME:?message}` whose variable it lacks is a problem too. Raises
    ConfigInvalid carrying every problem in every file.
    """
    documents = {name: _read(source, name) for name in FILES}
    routes, providers, server = documents.values()
    references.check_routes(routes, handlers)
    references.check_templates(routes)
    references.check_providers(providers, kinds)
    policies.check_policies(providers)
    # Without parsed providers there is nothing to check default_provider against.
    declared = providers.data.get("providers") if isinstance(providers.data, dict) else None
    references.check_server(server, declared if isinstance(declared, dict) else None)
    if environ is not None:
        for document in documents.values():
            references.check_required(document, environ)
    problems = [p for doc in documents.values() for p in doc.problems]
    if problems:
        raise ConfigInvalid(problems)
    return {FILES[name][0]: doc.data for name, doc in documents.items()}


def _read(source: ConfigSource, name: str) -> Document:
    """One file with its fragments merged in, schema-checked and checked for malformed `${`."""
    key, required = FILES[name]
    fragments = [_parse(source, f, key, False) for f in fragment_names(name, source.files)]
    document = _parse(source, name, key, required and not fragments)
    if fragments:
        document = merge_documents(key, [document, *fragments])
    if not isinstance(document.data, dict):
        return document  # unreadable: nothing further can be said
    document.problems.extend(validate(document, load_schema(key)))
    references.check_references(document)
    return document


def _parse(source: ConfigSource, name: str, key: str, required: bool) -> Document:
    """One file parsed; its data is a mapping, or else not a dict and a problem says why.

    Top-level `x-` keys are dropped: they hold blocks for YAML anchors, as in Compose.
    """
    raw = source.files.get(name)
    if raw is None and required:
        document = Document(name)
        document.add((1, 1), "file not found")
        return document
    document = parse_yaml(name, raw or b"")
    if document.problems and document.data is None:
        return document  # a syntax error: nothing further can be said
    if document.data is None:
        if required:
            document.add((1, 1), f"file is empty; it needs at least a '{key}' key")
            return document
        document.data = {}
    if not isinstance(document.data, dict):
        document.add(document.value_at(()), "the top level must be a mapping of keys")
        document.data = None
        return document
    document.data = {k: v for k, v in document.data.items() if not k.startswith("x-")}
    return document


def problem_at(
    source: ConfigSource, name: str, path: tuple[PathPart, ...], message: str
) -> Problem:
    """A Problem at the line and column of `path` in file `name`: for what only the
    compiler can see (a value built from `${VAR}`s, an error template)."""
    document = parse_yaml(name, source.files.get(name, b""))
    return document.problem(document.value_at(path), message, path)
