"""Checks that span keys or files: names that must point at something declared.

Each check tolerates data of the wrong shape, since the schema has already reported it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

import jinja2

from engine.config.document import Document, Path
from engine.config.envref import malformed_reference, required_unset
from engine.config.problems import yaml_path
from engine.modeltypes import MODEL_TYPES
from engine.observe.telemetry import EXTRA_MISSING, tracing_installed


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> Iterator[tuple[int, Any]]:
    return enumerate(value) if isinstance(value, list) else iter(())


def _known(names: Collection[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def check_routes(doc: Document, handlers: Collection[str]) -> None:
    """Every handler exists; no two enabled routes share a path and method."""
    seen: dict[tuple[str, str], int] = {}
    for i, route in _items(_mapping(doc.data).get("routes")):
        if not isinstance(route, dict):
            continue
        handler = route.get("handler")
        if isinstance(handler, str) and handler not in handlers:
            path: Path = ("routes", i, "handler")
            message = f"unknown handler {handler!r} (known: {_known(handlers)})"
            doc.add(doc.value_at(path), message, path)
        _check_fixed_type(doc, i, route.get("with"))
        # Disabled routes may duplicate: keeping an alternative switched off is a toggle.
        if route.get("enabled") is False or not isinstance(route.get("path"), str):
            continue
        methods = route.get("methods", ["GET"])
        for method in methods if isinstance(methods, list) else []:
            key = (route["path"], str(method))
            if key in seen:
                where: Path = ("routes", i, "path")
                message = (
                    f"route {method} {key[0]} is already declared by {_route(doc, i, seen[key])}"
                )
                doc.add(doc.value_at(where), message, where)
            else:
                seen[key] = i


def _check_fixed_type(doc: Document, index: int, fixed: Any) -> None:
    """A route's `with: {type: ...}` names a model type."""
    if not isinstance(fixed, dict) or not isinstance(fixed.get("type"), str):
        return
    if fixed["type"] not in MODEL_TYPES:
        where: Path = ("routes", index, "with", "type")
        message = f"unknown model type {fixed['type']!r} (known: {', '.join(MODEL_TYPES)})"
        doc.add(doc.value_at(where), message, where)


def _route(doc: Document, this: int, other: int) -> str:
    """How route `this` names route `other`: its index, and its file when not the same."""
    file, local = doc.locate(("routes", other))
    same = doc.locate(("routes", this))[0] == file
    return yaml_path(local) if same else f"{yaml_path(local)} in {file}"


def check_providers(doc: Document, kinds: Collection[str]) -> None:
    """Kinds exist; defaults, aliases and search point at declared names and models."""
    data = _mapping(doc.data)
    providers = _mapping(data.get("providers"))
    for name, provider in providers.items():
        kind = _mapping(provider).get("kind")
        if isinstance(kind, str) and kind not in kinds:
            path: Path = ("providers", name, "kind")
            message = f"unknown provider kind {kind!r} (known: {_known(kinds)})"
            doc.add(doc.value_at(path), message, path)
        _check_model_ids(doc, name, _mapping(provider).get("models"))
    default = _mapping(data.get("defaults")).get("provider")
    if isinstance(default, str) and default not in providers:
        path = ("defaults", "provider")
        doc.add(doc.value_at(path), _undeclared("provider", default, providers), path)
    for path, target in _alias_targets(_mapping(data.get("aliases"))):
        problem = _target_problem(target, providers)
        if problem:
            doc.add(doc.value_at(path), problem, path)
    _check_search_engines(doc, data)


def _check_search_engines(doc: Document, data: dict[str, Any]) -> None:
    """search.default, search.fallback and aliases' search.engine name declared engines."""
    search = _mapping(data.get("search"))
    engines = _mapping(search.get("engines"))
    named: list[tuple[Path, Any]] = [(("search", "default"), search.get("default"))]
    named += [(("search", "fallback", i), name) for i, name in _items(search.get("fallback"))]
    for alias, spec in _mapping(data.get("aliases")).items():
        engine = _mapping(_mapping(spec).get("search")).get("engine")
        named.append((("aliases", alias, "search", "engine"), engine))
    for path, name in named:
        if isinstance(name, str) and name not in engines:
            doc.add(doc.value_at(path), _undeclared("search engine", name, engines), path)


def check_server(doc: Document, providers: dict[str, Any] | None) -> None:
    """default_provider and every budget's provider name declared providers; client key
    names are unique; `telemetry` has its extra installed."""
    data = _mapping(doc.data)
    if isinstance(data.get("telemetry"), dict) and not tracing_installed():
        doc.add(doc.key_at(("telemetry",)), EXTRA_MISSING, ("telemetry",))
    default = data.get("default_provider")
    if providers is not None and isinstance(default, str) and default not in providers:
        path: Path = ("default_provider",)
        doc.add(doc.value_at(path), _undeclared("provider", default, providers), path)
    names: set[str] = set()
    for i, key in _items(_mapping(data.get("auth")).get("keys")):
        name = _mapping(key).get("name")
        if isinstance(name, str) and name in names:
            path = ("auth", "keys", i, "name")
            doc.add(doc.value_at(path), f"key name {name!r} is used twice", path)
        names.add(str(name))
        if providers is not None:
            _check_budget_providers(doc, ("auth", "keys", i), _mapping(key), providers)


def _check_budget_providers(
    doc: Document, at: Path, key: dict[str, Any], providers: dict[str, Any]
) -> None:
    budget = key.get("budget")
    listed = list(_items(budget)) if isinstance(budget, list) else [(None, budget)]
    for index, entry in listed:
        provider = _mapping(entry).get("provider")
        if isinstance(provider, str) and provider not in providers:
            path: Path = (
                (*at, "budget", "provider") if index is None else (*at, "budget", index, "provider")
            )
            doc.add(doc.value_at(path), _undeclared("provider", provider, providers), path)


MALFORMED = (
    "malformed environment reference: write ${NAME}, ${NAME:-default} or ${NAME:?message}"
    " ($${ for a literal ${)"
)


def check_references(doc: Document) -> None:
    """Every `${` in a string opens a well-formed reference or an escape."""
    for path, value in _strings(doc.data, ()):
        if malformed_reference(value):
            doc.add(doc.value_at(path), MALFORMED, path)


def check_required(doc: Document, environ: Mapping[str, str]) -> None:
    """Every `${NAME:?message}` a string needs has its variable set (never shows a value)."""
    for path, value in _strings(doc.data, ()):
        for name, message in required_unset(value, environ):
            text = f"environment variable {name} is not set" + (f": {message}" if message else "")
            doc.add(doc.value_at(path), text, path)


def _strings(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, (*path, i))


def _undeclared(what: str, name: str, declared: dict[str, Any]) -> str:
    return f"{what} {name!r} is not declared (declared: {_known(declared)})"


def _check_model_ids(doc: Document, provider: str, models: Any) -> None:
    seen: set[str] = set()
    for i, model in _items(models):
        model_id = model if isinstance(model, str) else _mapping(model).get("id")
        if isinstance(model_id, str) and model_id in seen:
            path: Path = ("providers", provider, "models", i)
            doc.add(doc.value_at(path), f"model {model_id!r} is listed twice", path)
        seen.add(str(model_id))


def _alias_targets(aliases: dict[str, Any]) -> Iterator[tuple[Path, str]]:
    """Every PROVIDER/MODEL string in the aliases, short or long form, with its path."""
    for name, alias in aliases.items():
        if isinstance(alias, str):
            yield ("aliases", name), alias
        for i, item in _items(alias):
            if isinstance(item, str):
                yield ("aliases", name, i), item
        for i, target in _items(_mapping(alias).get("targets")):
            model = _mapping(target).get("model")
            if isinstance(model, str):
                yield ("aliases", name, "targets", i, "model"), model


def _target_problem(target: str, providers: dict[str, Any]) -> str | None:
    provider, slash, model = target.partition("/")
    if not slash:
        return None  # the schema reports the missing "/"
    if provider not in providers:
        return _undeclared("provider", provider, providers)
    models = _mapping(providers[provider]).get("models")
    if isinstance(models, list):
        ids = {m if isinstance(m, str) else _mapping(m).get("id") for m in models}
        if model not in ids:
            listed = ", ".join(sorted(str(i) for i in ids)) or "none"
            return f"provider {provider!r} does not list model {model!r} (listed: {listed})"
    return None


def check_templates(doc: Document) -> None:
    """Every error message and footer is a Jinja template that parses."""
    environment = jinja2.Environment(autoescape=False)
    for code, error in _mapping(_mapping(doc.data).get("errors")).items():
        for field in ("message", "footer"):
            text = _mapping(error).get(field)
            if not isinstance(text, str):
                continue
            try:
                environment.parse(text)
            except jinja2.TemplateSyntaxError as exc:
                path: Path = ("errors", code, field)
                doc.add(doc.value_at(path), f"template error: {exc.message}", path)
            except ValueError as exc:  # e.g. a number literal too long to convert
                path = ("errors", code, field)
                doc.add(doc.value_at(path), f"template error: {exc}", path)
