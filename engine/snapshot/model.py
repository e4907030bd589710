"""The compiled, immutable view of the whole config that every request reads once.

`compile.py` builds a Snapshot from validated config; engine/live swaps whole Snapshots.
Nothing here parses config: lookups on the request path are dictionary hits.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.config.settings import Settings
from engine.errors import MethodNotAllowed, ModelNotFound
from engine.formats import OPENAI, WireFormat
from engine.modeltypes import MODEL_TYPES
from engine.observe.redact import Redactor
from engine.providers.base import Model, Provider, ProviderKind
from engine.search.catalog import Search, WebSearch
from engine.snapshot.params import NO_PARAMS, ParamPolicy
from engine.stores.base import Cooldown


@dataclass(frozen=True, slots=True)
class Target:
    """One concrete destination: a provider, its adapter and the upstream model name, with
    the parameter policy (provider < model < alias) requests to it are sent under."""

    provider: Provider
    model: Model
    adapter: ProviderKind = field(repr=False, compare=False)
    params: ParamPolicy = NO_PARAMS

    @property
    def public_id(self) -> str:
        return f"{self.provider.name}/{self.model.id}"


@dataclass(frozen=True, slots=True)
class CacheRule:
    """providers.yaml `cache:` of a model or an alias: whether answers are read from and
    written to the response cache, for how long, and whether client keys share them."""

    mode: str = "on"  # on | read_only | write_only | off
    ttl: float = 3600.0
    shared: bool = False

    @property
    def reads(self) -> bool:
        return self.mode in ("on", "read_only")

    @property
    def writes(self) -> bool:
        return self.mode in ("on", "write_only")


@dataclass(frozen=True, slots=True)
class Plan:
    """How to serve a model name: targets in order and the strategy that picks among them."""

    name: str
    targets: tuple[Target, ...]
    weights: tuple[float, ...]
    strategy: str = "fallback"  # a name in engine/routing/strategies.py STRATEGIES
    fallback_on: frozenset[str] = frozenset({"connect", "timeout", "429", "5xx"})
    search: WebSearch | None = None  # grounds every chat through it in a web search
    cache: CacheRule | None = None  # None: answers are never cached


@dataclass(frozen=True, slots=True)
class Policy:
    """providers.yaml `defaults` that govern attempts: retries, backoff, deadline, cooldown."""

    retries: int = 1
    backoff_initial: float = 0.25
    backoff_max: float = 8.0
    deadline: float = 120.0
    cooldown: Cooldown = field(default_factory=Cooldown)
    discover_interval: float = 300.0  # seconds between `models: discover` refreshes


@dataclass(frozen=True, slots=True)
class Route:
    path: str
    methods: frozenset[str]
    handler: str
    enabled: bool = True
    wire: WireFormat = OPENAI  # the inbound format its handler speaks
    args: Mapping[str, Any] = field(default_factory=dict)  # `with:`, handed to the handler


@dataclass(frozen=True, slots=True)
class RouteMatch:
    route: Route
    params: Mapping[str, str]


PATH_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")  # `{name}` or `{name:converter}`
_CONVERTERS = {"str": "[^/]+", "path": ".+", "int": "[0-9]+"}


def compile_path(path: str) -> re.Pattern[str]:
    """`/v1/models/{model:path}` -> a regex with named groups (str, path and int params)."""
    pattern, last = "", 0
    for m in PATH_PARAM.finditer(path):
        pattern += re.escape(path[last : m.start()])
        pattern += f"(?P<{m.group(1)}>{_CONVERTERS[m.group(2) or 'str']})"
        last = m.end()
    return re.compile("^" + pattern + re.escape(path[last:]) + "$")


class RouteTable:
    """Enabled routes: static paths in a dict, parametrised paths as compiled regexes."""

    def __init__(self, routes: tuple[Route, ...], prefix: str = "") -> None:
        self.routes = routes
        self.prefix = prefix.rstrip("/")
        self._static: dict[str, dict[str, Route]] = {}
        self._dynamic: list[tuple[re.Pattern[str], dict[str, Route]]] = []
        for route in routes:
            if not route.enabled:
                continue
            full = self.prefix + route.path
            if PATH_PARAM.search(full):
                pattern = compile_path(full)
                by_method = next(
                    (d for p, d in self._dynamic if p.pattern == pattern.pattern), None
                )
                if by_method is None:
                    by_method = {}
                    self._dynamic.append((pattern, by_method))
            else:
                by_method = self._static.setdefault(full, {})
            for method in route.methods:
                by_method.setdefault(method, route)
                if method == "GET":
                    by_method.setdefault("HEAD", route)

    def match(self, path: str, method: str) -> RouteMatch | None:
        """The route for `path` and `method`; None when no path matches.

        Raises MethodNotAllowed (with `Allow`) when the path exists under other methods.
        """
        by_method = self._static.get(path)
        params: Mapping[str, str] = {}
        if by_method is None:
            for pattern, candidate in self._dynamic:
                found = pattern.match(path)
                if found:
                    by_method, params = candidate, found.groupdict()
                    break
            else:
                return None
        route = by_method.get(method)
        if route is None:
            allow = ", ".join(sorted(by_method))
            raise MethodNotAllowed(
                f"Method {method} is not allowed on {path}; allowed: {allow}.",
                headers={"Allow": allow},
            )
        return RouteMatch(route, params)

    def suggest(self, path: str) -> str | None:
        """The served path that an unmatched `path` probably meant: the same with the
        `/v1` or the base URL it lacks, else the closest in spelling."""
        rest = path.removeprefix(self.prefix) if self.prefix else path
        for candidate in (self.prefix + "/v1" + rest, self.prefix + path):
            if candidate != path and self._serves(candidate):
                return candidate
        close = difflib.get_close_matches(path, list(self._static), n=1, cutoff=0.85)
        return close[0] if close else None

    def _serves(self, path: str) -> bool:
        return path in self._static or any(p.match(path) for p, _ in self._dynamic)


@dataclass(frozen=True, slots=True)
class ErrorTemplate:
    """A routes.yaml error template: status and type, and the message rendered from context."""

    status: int
    type: str
    render: Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a request needs, compiled once from one consistent set of files."""

    hash: str
    loaded_at: float
    sources: tuple[str, ...]
    settings: Settings
    routes: RouteTable
    providers: Mapping[str, Provider]
    plans: Mapping[str, Plan]
    aliases: Mapping[str, Plan]
    default_provider: str | None
    error_templates: Mapping[str, ErrorTemplate]
    policy: Policy
    search: Search
    raw: Mapping[str, Any] = field(repr=False)  # the validated files, for explain and describe
    # Masks this config's secrets out of any text that leaves the process.
    redact: Redactor = field(default_factory=Redactor, repr=False, compare=False)

    def resolve(self, name: str, model_type: str = "chat") -> Plan:
        """The plan serving `name`: `PROVIDER/MODEL`, an alias, a bare name or `auto`."""
        plan = self.plans.get(name)
        if plan is not None and plan.targets[0].model.type == model_type:
            return plan
        if name == "auto":
            plan = self.plans.get(f"auto:{model_type}")
            if plan is not None:
                return plan
        raise self.not_found(name, model_type)

    def not_found(
        self, name: str, model_type: str = "chat", among: Iterable[str] | None = None
    ) -> ModelNotFound:
        """The error for `name`, suggesting up to eight ids of `model_type` from `among`
        (by default every id /v1/models lists), with the reason when there is one to give:
        a model of another type, or one whose provider is switched off or lacks its key."""
        ids = self.model_ids() if among is None else among
        suggestions = sorted(n for n in ids if self.plans[n].targets[0].model.type == model_type)
        reason = self._why_not_served(name, model_type)
        return ModelNotFound(
            reason or f"The model '{name}' does not exist or is switched off.",
            param="model",
            context={
                "model": name,
                "model_type": model_type,
                "suggestions": suggestions[:8],
                "reason": reason,
            },
        )

    def _why_not_served(self, name: str, model_type: str) -> str | None:
        plan = self.plans.get(name)
        if plan is not None:
            served = plan.targets[0].model.type
            if served == model_type:
                return None
            wanted = MODEL_TYPES[model_type].noun if model_type in MODEL_TYPES else model_type
            return (
                f"'{name}' is {_a(served)} {served} model; "
                f"for {wanted}, use {_a(model_type)} {model_type} model."
            )
        provider_name, _, model = name.partition("/")
        for provider in self.providers.values():
            named = provider.name == provider_name and model in provider.models
            if not provider.active and (named or name in provider.models):
                return f"The model '{name}' is not served: {provider.why_inactive()}."
        return None

    def model_ids(self) -> list[str]:
        """What `/v1/models` lists: every active `PROVIDER/MODEL`, then the aliases."""
        ids = [
            f"{p.name}/{m.id}"
            for p in self.providers.values()
            if p.active
            for m in p.models.values()
        ]
        return ids + [a for a in self.aliases if a not in ids]


def _a(noun: str) -> str:
    return "an" if noun[:1] in "aeiou" else "a"
