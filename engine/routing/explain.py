"""How a model name resolves on a snapshot: `patchbay explain` and GET /admin/explain.

    explain(snapshot, "smart", key="alice")  ->  {"model": "smart", "resolves_as": "alias",
        "served": true, "strategy": "fallback", "targets": [{...}, ...], "key": {...}}

Every declared target is listed, in order, with its provider's status and whether the
key may use it, including targets a request would skip (their provider is off); a target
a request would use also shows its cooldown state (`ok`, `cooling (N s left)`, `failing`,
when the caller could read the store that keeps them: `explain_now`) and the parameter
policy it is sent under. Each target is one flat mapping and the text table is built
from COLUMNS, so a new fact about a target (its price) is one more key and one more column.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from engine.access.guard import key_allows, key_may_use
from engine.config.settings import ClientKey
from engine.routing.cooldowns import target_health
from engine.snapshot.model import Plan, Snapshot, Target
from engine.stores.base import Cooldowns

Explanation = dict[str, Any]
FAILURES = ("connect", "timeout", "429", "5xx")  # the order providers.yaml documents


async def explain_now(
    snapshot: Snapshot,
    store: Cooldowns,
    kept_in: str,
    name: str,
    key: str | None = None,
    model_type: str = "chat",
) -> Explanation:
    """`explain`, with the cooldown state of each target a request would use read from
    `store` (`kept_in` says where it is: "redis" or "worker memory")."""
    plan = _plan(snapshot, name, model_type)
    states = await target_health(store, plan.targets if plan is not None else ())
    return explain(snapshot, name, key, model_type, cooldowns=states, cooldowns_from=kept_in)


def explain(
    snapshot: Snapshot,
    name: str,
    key: str | None = None,
    model_type: str = "chat",
    *,
    cooldowns: Mapping[str, str] | None = None,
    cooldowns_from: str | None = None,
    cooldowns_note: str | None = None,
) -> Explanation:
    """What a request for `name` (by `key`, if given) would be served by, and why.

    `model_type` matters only for `auto`, which names a different model per type.
    `cooldowns` are the targets' states by PROVIDER/MODEL, read from `cooldowns_from`;
    without them, `cooldowns_note` says why they are not known.
    """
    plan = _plan(snapshot, name, model_type)
    declared = _declared_alias(snapshot, name)
    result: Explanation = {"model": name, "served": plan is not None}
    if declared is not None:
        result["resolves_as"] = "alias"
        targets = [t["model"] for t in declared["targets"]]
        weights = [float(t.get("weight", 1)) for t in declared["targets"]]
        result["strategy"] = declared.get("strategy", "fallback")
    elif plan is not None:
        result["resolves_as"] = "auto" if name == "auto" else "model" if "/" in name else "bare"
        targets, weights = [t.public_id for t in plan.targets], list(plan.weights)
        result["strategy"] = plan.strategy
    else:
        result["resolves_as"] = "model" if "/" in name else "unknown"
        targets, weights = ([name] if "/" in name else []), [1.0]
    if plan is not None:
        result["type"] = plan.targets[0].model.type
        result["fallback_on"] = [f for f in FAILURES if f in plan.fallback_on]
    client = _client_key(snapshot, key, result)
    live = {t.public_id: t for t in plan.targets} if plan is not None else {}
    result["cooldowns_from"] = cooldowns_from if cooldowns is not None else None
    if cooldowns is None and cooldowns_note:
        result["cooldowns_note"] = cooldowns_note
    result["targets"] = [
        {
            **_target(snapshot, target, weight, target in live, client),
            **_served_as(live.get(target), cooldowns),
        }
        for target, weight in zip(targets, weights, strict=False)
    ]
    if plan is None:
        result["reason"] = _reason(snapshot, name, result, model_type)
    if client is not None:
        result["key"]["may_use"] = plan is not None and key_may_use(client, name, plan)
    return result


def _plan(snapshot: Snapshot, name: str, model_type: str) -> Plan | None:
    if name == "auto":
        return snapshot.plans.get(f"auto:{model_type}")
    return snapshot.plans.get(name)


def _declared_alias(snapshot: Snapshot, name: str) -> dict[str, Any] | None:
    """The alias as providers.yaml declares it, in its long form; None if it is no alias."""
    spec = snapshot.raw.get("providers", {}).get("aliases", {}).get(name)
    if isinstance(spec, str):
        return {"targets": [{"model": spec}]}
    if isinstance(spec, list):
        return {"targets": [{"model": m} for m in spec]}
    return spec if isinstance(spec, dict) else None


def _client_key(snapshot: Snapshot, name: str | None, result: Explanation) -> ClientKey | None:
    """The named client key, recording in `result` whether it is active, off or unknown."""
    auth = snapshot.settings.auth
    result["auth_required"] = auth.required
    if name is None:
        return None
    found = next((k for k in auth.keys if k.name == name), None)
    declared = snapshot.raw.get("server", {}).get("auth", {}).get("keys", [])
    if found is not None:
        result["key"] = {"name": name, "state": "active", "models": list(found.models) or None}
    elif any(entry.get("name") == name for entry in declared):
        result["key"] = {"name": name, "state": "off", "may_use": False}
    else:
        result["key"] = {"name": name, "state": "undeclared", "may_use": False}
    return found


def _target(
    snapshot: Snapshot, model: str, weight: float, live: bool, key: ClientKey | None
) -> dict[str, Any]:
    provider_name, _, upstream = model.partition("/")
    provider = snapshot.providers.get(provider_name)
    listed = provider is not None and upstream in provider.models
    return {
        "model": model,
        "provider": provider_name,
        "kind": provider.kind if provider is not None else None,
        "upstream_model": upstream,
        "type": provider.models[upstream].type if provider is not None and listed else None,
        "provider_status": provider.status if provider is not None else "undeclared",
        "listed": listed,
        "in_plan": live,
        "weight": weight,
        "key_allows": key_allows(key, model),
    }


def _served_as(target: Target | None, cooldowns: Mapping[str, str] | None) -> dict[str, Any]:
    """A used target's cooldown state (when known) and parameter policy; None for both
    on a target a request skips."""
    if target is None:
        return {"cooldown": None, "params": None}
    state = cooldowns.get(target.public_id) if cooldowns is not None else None
    return {"cooldown": state, "params": target.params.public()}


def _reason(snapshot: Snapshot, name: str, result: Explanation, model_type: str) -> str:
    """Why `name` is not served, in one sentence."""
    targets = result["targets"]
    if result["resolves_as"] == "alias":
        return f"No target of the alias '{name}' is active."
    if name == "auto":
        return f"No {model_type} model is active."
    if targets:
        target = targets[0]
        if target["provider_status"] == "undeclared":
            return f"No provider '{target['provider']}' is declared."
        if target["provider_status"] != "active":
            return f"The provider '{target['provider']}' is {target['provider_status']}."
        return f"The provider '{target['provider']}' does not list '{target['upstream_model']}'."
    serving = sorted(p.name for p in snapshot.providers.values() if p.active and name in p.models)
    if len(serving) > 1:
        return f"'{name}' is served by {', '.join(serving)}: write PROVIDER/MODEL."
    suggestions = snapshot.not_found(name, model_type).context["suggestions"]
    hint = f" Try one of: {', '.join(suggestions)}." if suggestions else ""
    return f"No provider, alias or model is named '{name}'.{hint}"


Column = tuple[str, Callable[[Mapping[str, Any]], str]]

COLUMNS: tuple[Column, ...] = (
    ("target", lambda t: str(t["model"])),
    ("kind", lambda t: str(t["kind"] or "-")),
    ("status", lambda t: str(t["provider_status"])),
    ("used", lambda t: "yes" if t["in_plan"] else "skipped"),
)
KEY_COLUMN: Column = ("key", lambda t: "allowed" if t["key_allows"] else "not allowed")
WEIGHT_COLUMN: Column = ("weight", lambda t: f"{t['weight']:g}")
COOLDOWN_COLUMN: Column = ("cooldown", lambda t: str(t["cooldown"] or "-"))
PARAMS_COLUMN: Column = ("params", lambda t: params_text(t["params"]))


def params_text(params: Mapping[str, Any] | None) -> str:
    """A parameter policy in one cell: `defaults max_tokens=1024; drop seed`, or `-`."""
    if not params:
        return "-"
    parts = [
        f"{section} " + ", ".join(f"{k}={json.dumps(v)}" for k, v in params[section].items())
        for section in ("defaults", "override")
        if params[section]
    ]
    if params["drop"]:
        parts.append("drop " + ", ".join(params["drop"]))
    return "; ".join(parts) or "-"


def render_text(result: Explanation) -> str:
    """The explanation as `patchbay explain` prints it: a headline, the key, a table."""
    lines = [_headline(result)]
    key = result.get("key")
    if key is not None:
        lines.append(_key_line(key))
    if result["targets"]:
        columns = list(COLUMNS)
        if result.get("strategy") == "weighted":
            columns.insert(1, WEIGHT_COLUMN)
        if result.get("cooldowns_from"):
            columns.append(COOLDOWN_COLUMN)
        if any(params_text(t["params"]) != "-" for t in result["targets"]):
            columns.append(PARAMS_COLUMN)
        if key is not None and key["state"] == "active":
            columns.append(KEY_COLUMN)
        lines += ["", *_table(columns, result["targets"])]
    if result.get("cooldowns_from"):
        lines.append(f"\ncooldowns: read from {result['cooldowns_from']}")
    elif result.get("cooldowns_note"):
        lines.append(f"\ncooldowns: {result['cooldowns_note']}")
    return "\n".join(lines)


def _headline(result: Explanation) -> str:
    name, how = result["model"], result["resolves_as"]
    if not result["served"]:
        return f"{name}: not served ({how}). {result['reason']}"
    facts = [how, f"strategy {result['strategy']}", f"type {result['type']}"]
    if how == "alias":
        facts.append("falls back on " + ", ".join(result["fallback_on"]))
    return f"{name}: {'; '.join(facts)}"


def _key_line(key: Mapping[str, Any]) -> str:
    if key["state"] == "undeclared":
        return f"key {key['name']}: no such key in config/server.yaml"
    if key["state"] == "off":
        return f"key {key['name']}: off (its variable is unset), so it may not use it"
    verdict = "may use it" if key.get("may_use") else "may not use it"
    models = ", ".join(key["models"]) if key["models"] else "every model"
    return f"key {key['name']}: {verdict} (allowed: {models})"


def _table(columns: list[Column], rows: list[dict[str, Any]]) -> list[str]:
    cells = [["#", *(header for header, _ in columns)]]
    cells += [[str(i), *(cell(row) for _, cell in columns)] for i, row in enumerate(rows, 1)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells
    ]
