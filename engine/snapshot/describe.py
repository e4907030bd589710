"""What a snapshot serves, as plain data two snapshots can be compared by.

GET /admin/config returns it as `config`; `patchbay check --against` builds the same
from the files on disk and compares the two (engine/snapshot/diff.py). Everything is as
the files declare it, with what the compiler decided beside it (a provider's status,
its models, an alias's live targets). Secrets stay references: a `${VAR}` is shown as
written, a literal key as `<secret>`, never a value; a URL's user and password too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from engine.config import env_refs
from engine.snapshot.model import Snapshot

View = dict[str, Any]
SECRET_FIELDS = frozenset({"api_key", "admin_key", "key"})
HIDDEN = "<secret>"
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_VARIABLES = 256


def describe(snapshot: Snapshot, environ: Mapping[str, str], asked: Iterable[str] = ()) -> View:
    """The snapshot's view; `variables` says which referenced (or `asked`) names are set."""
    raw = _redacted(snapshot.raw)
    providers_file, routes_file = raw["providers"], raw["routes"]
    return {
        "providers": {
            name: {
                **{k: v for k, v in providers_file["providers"][name].items() if k != "models"},
                "status": provider.status,
                "discover": provider.discover,
                "models": list(provider.models),
            }
            for name, provider in snapshot.providers.items()
        },
        "models": {
            f"{p.name}/{m.id}": m.type
            for p in snapshot.providers.values()
            if p.active
            for m in p.models.values()
        },
        "aliases": {
            name: {**_alias(spec), "serving": _serving(snapshot, name)}
            for name, spec in providers_file.get("aliases", {}).items()
        },
        "defaults": providers_file.get("defaults", {}),
        "search": {
            **{
                f"engines.{n}": e
                for n, e in providers_file.get("search", {}).get("engines", {}).items()
            },
            "default": providers_file.get("search", {}).get("default"),
        },
        "routes": _routes(routes_file.get("routes", [])),
        "errors": routes_file.get("errors", {}),
        "settings": _flat(raw["server"]),
        "variables": _variables(snapshot.raw, environ, asked),
    }


def _alias(spec: Any) -> dict[str, Any]:
    """An alias in its long form: strategy, targets, weights, fallback_on."""
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, list):
        spec = {"targets": [{"model": m} for m in spec]}
    return {
        "strategy": spec.get("strategy", "fallback"),
        "targets": [t["model"] for t in spec["targets"]],
        "weights": [t.get("weight", 1) for t in spec["targets"]],
        "fallback_on": spec.get("fallback_on", ["connect", "timeout", "429", "5xx"]),
    }


def _serving(snapshot: Snapshot, name: str) -> list[str]:
    plan = snapshot.aliases.get(name)
    return [t.public_id for t in plan.targets] if plan is not None else []


def _routes(routes: list[dict[str, Any]]) -> dict[str, Any]:
    """Routes by `METHODS PATH`; a repeated one (a disabled alternative) gets `#2`, `#3`."""
    found: dict[str, Any] = {}
    for route in routes:
        methods = ",".join(sorted(m.upper() for m in route.get("methods", ["GET"])))
        name = key = f"{methods} {route['path']}"
        count = 1
        while key in found:
            count += 1
            key = f"{name} #{count}"
        found[key] = {k: v for k, v in route.items() if k not in ("path", "methods")}
    return found


def _flat(server: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """server.yaml as dotted names (`watch.interval`); client keys by name (`auth.keys.alice`)."""
    flat: dict[str, Any] = {}
    for name, value in server.items():
        dotted = prefix + name
        if dotted == "auth.keys" and isinstance(value, list):
            for entry in value:
                flat[f"auth.keys.{entry['name']}"] = {k: v for k, v in entry.items() if k != "name"}
        elif isinstance(value, dict):
            flat.update(_flat(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _redacted(value: Any, field: str = "", secret: bool = False) -> Any:
    """`value` with literal secrets hidden and URL credentials masked; references kept."""
    if isinstance(value, dict):
        inside = secret or field in ("headers", "query")  # values may carry keys
        return {k: _redacted(v, k, inside or k in SECRET_FIELDS) for k, v in value.items()}
    if isinstance(value, list):
        names = field == "forward"  # `headers.forward` lists header names, no values
        return [_redacted(v, field, secret and not names) for v in value]
    if isinstance(value, str):
        if field == "sha256":
            return value[:12] + "..."  # a digest prefix: enough to tell two keys apart
        if secret and "${" not in value:
            return HIDDEN
        return _USERINFO.sub(HIDDEN + "@", value)
    return value


def _variables(
    raw: Mapping[str, Any], environ: Mapping[str, str], asked: Iterable[str]
) -> dict[str, bool]:
    """Whether each variable the config refers to (and each `asked`) is set; never its value."""
    names = referenced(raw)
    names.update(n for n in list(asked)[:MAX_VARIABLES] if _VARIABLE.match(n))
    return {name: bool(environ.get(name)) for name in sorted(names)}


def referenced(value: Any) -> set[str]:
    """Every variable name the strings in `value` refer to."""
    if isinstance(value, str):
        return set(env_refs(value))
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return set().union(*(referenced(item) for item in items))
