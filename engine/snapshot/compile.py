"""Validated config dict -> frozen Snapshot: routes, providers, plans, error templates.

Everything a request needs is decided here once: secrets resolved, adapters built,
every addressable model name mapped to its Plan.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from engine.config import ConfigSource, env_refs, resolve_env
from engine.config.prices import shipped_prices
from engine.config.settings import Auth, Budget, ClientKey, SettingError, resolve_settings
from engine.formats import FORMATS
from engine.modeltypes import MODEL_TYPES
from engine.observe.redact import Redactor
from engine.providers import KINDS
from engine.providers.base import Model, Provider, ProviderStatus
from engine.providers.prices import Price
from engine.search import SEARCH_KINDS, EngineSpec, EngineStatus
from engine.search.catalog import Search, WebSearch
from engine.snapshot.model import (
    CacheRule,
    ErrorTemplate,
    Plan,
    Policy,
    Route,
    RouteTable,
    Snapshot,
    Target,
)
from engine.snapshot.params import ParamPolicy, param_policy, target_params
from engine.snapshot.policies import REQUEST_FIELDS, request_policy, resolved_values
from engine.snapshot.secrets import secret_values, url_password
from engine.snapshot.templates import MessageRenderer, TemplateInvalid, compile_message
from engine.stores.base import Cooldown


class UnknownDefaultProvider(SettingError):
    """The default provider given outside the files names no declared provider."""


class ValueUnusable(ValueError):
    """A value that validated but cannot be used as compiled; `file` and `path` say where."""

    def __init__(self, file: str, path: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.file = file
        self.path = path


def _upstream_url(url: str | None, path: tuple[str, ...]) -> str | None:
    """`url` once its `${VAR}`s are resolved, if http(s) with a host; private and
    link-local hosts are allowed (an operator's local models live there)."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        usable = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        usable = False
    if not usable:
        raise ValueUnusable(
            "providers.yaml",
            path,
            "must be an http:// or https:// URL with a host once its ${VAR} references are "
            "resolved (the value is not shown: it came from the environment)",
        )
    return url


def compile_snapshot(
    source: ConfigSource,
    data: Mapping[str, Any],
    *,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any],
    discovered: Mapping[str, tuple[str, ...]] | None = None,
    wire_formats: Mapping[str, str] | None = None,
) -> Snapshot:
    """Build the Snapshot for validated `data`; `discovered` holds `models: discover` lists,
    `wire_formats` the inbound format of each handler that speaks other than OpenAI's."""
    settings = resolve_settings(_server_values(data["server"], environ), environ, overrides)
    providers_file = data["providers"]
    defaults = providers_file.get("defaults", {})
    prices = shipped_prices()
    providers = {
        name: _provider(name, spec, defaults, environ, (discovered or {}).get(name, ()), prices)
        for name, spec in providers_file.get("providers", {}).items()
    }
    adapters = {name: KINDS[p.kind](p) for name, p in providers.items()}
    default_provider = settings.default_provider or defaults.get("provider")
    if settings.default_provider and settings.default_provider not in providers:
        # From the command line or PATCHBAY_DEFAULT_PROVIDER (the file's is checked with it).
        raise UnknownDefaultProvider(
            f"default_provider '{settings.default_provider}' (--default-provider or "
            "PATCHBAY_DEFAULT_PROVIDER) is not a provider declared in providers.yaml"
        )
    params = {
        name: target_params(spec) for name, spec in providers_file.get("providers", {}).items()
    }
    caches = _model_caches(providers_file)
    plans = _direct_plans(providers, adapters, default_provider, params, caches)
    aliases = _alias_plans(providers_file.get("aliases", {}), plans)
    routes = tuple(
        Route(
            path=r["path"],
            methods=frozenset(m.upper() for m in r.get("methods", ["GET"])),
            handler=r["handler"],
            enabled=r.get("enabled", True),
            wire=FORMATS[(wire_formats or {}).get(r["handler"], "openai")],
            args=MappingProxyType(dict(r.get("with", {}))),
        )
        for r in data["routes"].get("routes", [])
    )
    return Snapshot(
        hash=source.hash,
        loaded_at=time.time(),
        sources=tuple(sorted(source.files)),
        settings=settings,
        routes=RouteTable(routes, settings.base_url),
        providers=providers,
        plans={**plans, **aliases},
        aliases=aliases,
        default_provider=default_provider,
        error_templates=_error_templates(data["routes"].get("errors", {})),
        policy=Policy(
            retries=int(defaults.get("retries", 1)),
            backoff_initial=float(defaults.get("retry_backoff", {}).get("initial", 0.25)),
            backoff_max=float(defaults.get("retry_backoff", {}).get("max", 8)),
            deadline=float(defaults.get("deadline", 120)),
            cooldown=_cooldown(defaults.get("cooldown", {})),
            discover_interval=float(defaults.get("discover_interval", 300)),
        ),
        raw=data,
        search=_search(providers_file.get("search", {}), defaults, environ),
        redact=Redactor(secret_values(data, environ) | url_password(settings.redis_url)),
    )


def _cooldown(spec: Mapping[str, Any]) -> Cooldown:
    rule = Cooldown(**{k: v for k, v in spec.items() if k != "on"})
    return replace(rule, on=frozenset(spec["on"])) if "on" in spec else rule


def _server_values(server: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """server.yaml with `${VAR}` strings resolved and client keys stored as digests."""
    values = {k: _resolved(v, environ) for k, v in server.items() if k != "auth"}
    auth = server.get("auth", {})
    keys = []
    for entry in auth.get("keys", []):
        digest = entry.get("sha256")
        if digest is None:
            secret = resolve_env(entry["key"], environ)
            if secret is None:
                continue  # an unset key variable disables that key, like a provider's
            digest = hashlib.sha256(secret.encode()).hexdigest()
        keys.append(
            ClientKey(
                name=entry["name"],
                sha256=digest,
                models=tuple(entry.get("models", ())),
                rpm=entry.get("rpm"),
                tpm=entry.get("tpm"),
                budgets=_budgets(entry.get("budget", [])),
            )
        )
    admin = auth.get("admin_key")
    values["auth"] = Auth(
        required=auth.get("required", False),
        admin_key=resolve_env(admin, environ) if admin else None,
        keys=tuple(keys),
    )
    return values


def _budgets(spec: Any) -> tuple[Budget, ...]:
    """A key's `budget:`, one mapping or a list of them."""
    entries = spec if isinstance(spec, list) else [spec]
    return tuple(Budget(float(b["usd"]), b["window"], b.get("provider")) for b in entries)


def _resolved(value: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return resolve_env(value, environ)
    if isinstance(value, dict):
        return {k: _resolved(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v, environ) for v in value]
    return value


def _provider(
    name: str,
    spec: Mapping[str, Any],
    defaults: Mapping[str, Any],
    environ: Mapping[str, str],
    discovered: tuple[str, ...],
    prices: Mapping[str, Mapping[str, Any]],
) -> Provider:
    api_key = resolve_env(spec["api_key"], environ) if "api_key" in spec else None
    base_url = resolve_env(spec.get("base_url", ""), environ)
    _upstream_url(base_url, ("providers", name, "base_url"))
    status: ProviderStatus = "active"
    needs: tuple[str, ...] = ()
    if not spec.get("enabled", True):
        status = "disabled"
    elif ("api_key" in spec and api_key is None) or base_url is None:
        status = "missing_key"
        references = [*env_refs(spec.get("api_key", "")), *env_refs(spec.get("base_url", ""))]
        needs = tuple(dict.fromkeys(name for name in references if not environ.get(name)))
    declared = spec.get("models", [])
    discover = declared == "discover"
    entries = [{"id": m} for m in discovered] if discover else declared
    models = {}
    for entry in entries:
        item: dict[str, Any] = {"id": entry} if isinstance(entry, str) else entry
        # A price in providers.yaml replaces the shipped one; neither: the cost is unknown.
        price = item.get("price", prices.get(f"{name}/{item['id']}"))
        model = Model(
            item["id"], item.get("type", "chat"), None if price is None else Price.from_spec(price)
        )
        models[model.id] = model
    options = {k: v for k, v in spec.items() if k not in _PROVIDER_FIELDS}
    if isinstance(options.get("image_base_url"), str):
        image_url = resolve_env(options["image_base_url"], environ)
        _upstream_url(image_url, ("providers", name, "image_base_url"))
    return Provider(
        name=name,
        kind=spec["kind"],
        status=status,
        base_url=(base_url or "").rstrip("/"),
        api_key=api_key,
        timeout=float(spec.get("timeout", defaults.get("timeout", 60))),
        models=models,
        discover=discover,
        local=bool(spec.get("local", False)),
        stream_usage=bool(spec.get("stream_usage", True)),
        options={k: _resolved(v, environ) for k, v in options.items()},
        **request_policy(spec, environ),
        needs=needs,
    )


_PROVIDER_FIELDS = REQUEST_FIELDS | {
    "kind",
    "base_url",
    "api_key",
    "enabled",
    "timeout",
    "models",
    "local",
    "params",
    "stream_usage",
}


def _model_caches(providers_file: Mapping[str, Any]) -> dict[str, CacheRule]:
    """`PROVIDER/MODEL` -> its `cache:` rule, for every model entry that has one."""
    caches = {}
    for name, spec in providers_file.get("providers", {}).items():
        models = spec.get("models", [])
        for entry in models if isinstance(models, list) else []:
            rule = _cache_rule(entry.get("cache")) if isinstance(entry, dict) else None
            if rule is not None:
                caches[f"{name}/{entry['id']}"] = rule
    return caches


def _cache_rule(spec: Mapping[str, Any] | None) -> CacheRule | None:
    """A `cache:` block; None when absent or `mode: off` (YAML's bare on/off are booleans)."""
    if spec is None:
        return None
    mode = spec.get("mode", "on")
    if isinstance(mode, bool):
        mode = "on" if mode else "off"
    if mode == "off":
        return None
    return CacheRule(
        mode=mode,
        ttl=float(spec.get("ttl", 3600)),
        shared=bool(spec.get("shared", False)),
    )


def _direct_plans(
    providers: Mapping[str, Provider],
    adapters: Mapping[str, Any],
    default_provider: str | None,
    params: Mapping[str, tuple[ParamPolicy, Mapping[str, ParamPolicy]]],
    caches: Mapping[str, CacheRule],
) -> dict[str, Plan]:
    """`PROVIDER/MODEL`, bare names and `auto:<type>` for every active provider; each
    target with its provider's parameter policy under its model's."""
    plans: dict[str, Plan] = {}
    serving: dict[str, list[Target]] = {}
    for provider in providers.values():
        if not provider.active:
            continue
        own, by_model = params[provider.name]
        for model in provider.models.values():
            policy = by_model.get(model.id, own)
            target = Target(provider, model, adapters[provider.name], policy)
            plans[target.public_id] = _single(target.public_id, target, caches)
            serving.setdefault(model.id, []).append(target)
    for bare, targets in serving.items():
        chosen = [t for t in targets if t.provider.name == default_provider] or targets
        if len(chosen) == 1 and bare not in plans:
            plans[bare] = _single(bare, chosen[0], caches)
    for model_type in MODEL_TYPES:
        # `auto` is the default provider's first model of the type, else the first active one.
        candidates = sorted(
            (p for p in plans.values() if "/" in p.name and p.targets[0].model.type == model_type),
            key=lambda p: p.targets[0].provider.name != default_provider,
        )
        if candidates:
            plans[f"auto:{model_type}"] = _single("auto", candidates[0].targets[0], caches)
    return plans


def _single(name: str, target: Target, caches: Mapping[str, CacheRule]) -> Plan:
    """A plan of one target; it caches as its model's `cache:` says."""
    return Plan(name=name, targets=(target,), weights=(1.0,), cache=caches.get(target.public_id))


def _alias_plans(aliases: Mapping[str, Any], plans: Mapping[str, Plan]) -> dict[str, Plan]:
    """Aliases over active targets only; an alias with none left is not served. The
    alias's parameter policy is layered over each target's."""
    compiled: dict[str, Plan] = {}
    for name, spec in aliases.items():
        if isinstance(spec, str):
            spec = {"targets": [{"model": spec}]}
        elif isinstance(spec, list):
            spec = {"targets": [{"model": m} for m in spec]}
        policy = param_policy(spec.get("params"))
        live = [
            (_under(plans[t["model"]].targets[0], policy), t.get("weight", 1))
            for t in spec["targets"]
            if t["model"] in plans
        ]
        if not live:
            continue
        extra = {"fallback_on": frozenset(spec["fallback_on"])} if "fallback_on" in spec else {}
        compiled[name] = Plan(
            name=name,
            targets=tuple(t for t, _ in live),
            weights=tuple(float(w) for _, w in live),
            strategy=spec.get("strategy", "fallback"),
            search=WebSearch(**spec["search"]) if "search" in spec else None,
            cache=_cache_rule(spec.get("cache")),
            **extra,
        )
    return compiled


def _under(target: Target, policy: ParamPolicy) -> Target:
    return replace(target, params=policy.over(target.params)) if policy else target


def _search(
    spec: Mapping[str, Any], defaults: Mapping[str, Any], environ: Mapping[str, str]
) -> Search:
    """`search:` -> every declared engine with its kind's adapter, keys resolved."""
    engines = {}
    for name, entry in spec.get("engines", {}).items():
        kind = SEARCH_KINDS[entry["kind"]]
        api_key = resolve_env(entry["api_key"], environ) if "api_key" in entry else None
        base_url = resolve_env(entry.get("base_url", ""), environ)
        _upstream_url(base_url, ("search", "engines", name, "base_url"))
        status: EngineStatus = "active"
        if not entry.get("enabled", True):
            status = "disabled"
        elif (kind.needs_key and not api_key) or base_url is None:
            status = "missing_key"
        engines[name] = kind(
            EngineSpec(
                name=name,
                kind=kind.kind,
                status=status,
                base_url=base_url or "",
                api_key=api_key,
                timeout=float(entry.get("timeout", defaults.get("timeout", 60))),
                headers=resolved_values(entry.get("headers", {}), environ),
            )
        )
    cache = spec.get("cache", {})
    return Search(
        engines=engines,
        default=spec.get("default"),
        fallback=tuple(spec.get("fallback", ())),
        cache_ttl=float(cache.get("ttl", 0)),
        cache_entries=int(cache.get("max_entries", 1000)),
    )


def _error_templates(errors: Mapping[str, Any]) -> dict[str, ErrorTemplate]:
    templates = {}
    for code, spec in errors.items():
        message = _template(spec["message"], code, "message")
        footer = _template(spec["footer"], code, "footer") if "footer" in spec else None
        templates[code] = ErrorTemplate(
            status=spec["status"], type=spec["type"], render=_joined(message, footer)
        )
    return templates


def _template(source: str, code: str, field: str) -> MessageRenderer:
    try:
        return compile_message(source)
    except TemplateInvalid as exc:
        raise ValueUnusable(
            "routes.yaml", ("errors", code, field), f"error template: {exc}"
        ) from None


def _joined(message: MessageRenderer, footer: MessageRenderer | None) -> MessageRenderer:
    if footer is None:
        return message
    return lambda context: f"{message(context)} {footer(context)}"
