"""Checks of request policies the schema cannot express: a parameter named in two
sections of one `params` block, and client headers that must never be forwarded.

Each check tolerates data of the wrong shape, since the schema has already reported it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.config.document import Document, Path

# Client headers no `headers.forward` may name: credentials (the client's key for
# Patchbay is no upstream's business), cookies, and what frames the request Patchbay sends.
NEVER_FORWARDED = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-admin-key",
        "cookie",
        "host",
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        "accept-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "expect",
    }
)
SECTIONS = ("defaults", "override", "drop")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def check_policies(doc: Document) -> None:
    """Every `params` block names a field once; every forwarded header may be forwarded."""
    data = _mapping(doc.data)
    for path, params in _param_blocks(data):
        _check_params(doc, path, params)
    for name, provider in _mapping(data.get("providers")).items():
        _check_forward(doc, name, _mapping(provider))


def _param_blocks(data: dict[str, Any]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Each `params` block with its path: on providers, on model entries, on aliases."""
    for name, provider in _mapping(data.get("providers")).items():
        provider = _mapping(provider)
        yield ("providers", name, "params"), _mapping(provider.get("params"))
        models = provider.get("models")
        for i, model in enumerate(models if isinstance(models, list) else []):
            yield (
                ("providers", name, "models", i, "params"),
                _mapping(_mapping(model).get("params")),
            )
    for name, alias in _mapping(data.get("aliases")).items():
        yield ("aliases", name, "params"), _mapping(_mapping(alias).get("params"))


def _check_params(doc: Document, path: Path, params: dict[str, Any]) -> None:
    seen: dict[str, str] = {}
    for section in SECTIONS:
        value = params.get(section)
        names = value if isinstance(value, list) else list(_mapping(value))
        for i, field in enumerate(names):
            if not isinstance(field, str):
                continue
            if field in seen:
                where: Path = (*path, section, i if section == "drop" else field)
                message = f"parameter {field!r} is already in {seen[field]}: name it in one section"
                doc.add(doc.key_at(where), message, where)
            else:
                seen[field] = section


def _check_forward(doc: Document, name: str, provider: dict[str, Any]) -> None:
    forward = _mapping(provider.get("headers")).get("forward")
    auth = _mapping(provider.get("auth")).get("header")
    key_header = auth.lower() if isinstance(auth, str) else None
    seen: set[str] = set()
    for i, header in enumerate(forward if isinstance(forward, list) else []):
        if not isinstance(header, str):
            continue
        path: Path = ("providers", name, "headers", "forward", i)
        lowered = header.lower()
        if lowered in NEVER_FORWARDED:
            message = f"{header!r} is never forwarded (credentials and request framing stay)"
        elif lowered == key_header:
            message = f"{header!r} carries this provider's key (auth.header); it is not forwarded"
        elif lowered in seen:
            message = f"header {header!r} is listed twice"
        else:
            seen.add(lowered)
            continue
        doc.add(doc.value_at(path), message, path)
