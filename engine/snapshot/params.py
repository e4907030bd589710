"""Parameter policies: what a provider, a model or an alias does to a request's fields.

    params: {defaults: {max_tokens: 1024}, override: {temperature: 0}, drop: [seed]}

`defaults` fill fields the client left out, `override` sets fields whatever the client
sent, `drop` removes fields. Policies are declared on a provider, on a model entry and
on an alias, and layered in that order: a layer that names a field decides it, whatever
the layers below said about it (an alias that pins `seed` wins over a provider that
drops it). The layered policy of each target is compiled once into the snapshot;
engine/routing/params.py applies it to each request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ParamPolicy:
    """One target's resolved policy; every field is named in at most one section."""

    defaults: Mapping[str, Any] = field(default_factory=dict)
    override: Mapping[str, Any] = field(default_factory=dict)
    drop: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.defaults or self.override or self.drop)

    def fields(self) -> frozenset[str]:
        return frozenset(self.defaults) | frozenset(self.override) | self.drop

    def over(self, lower: ParamPolicy) -> ParamPolicy:
        """This policy layered over `lower`: for each field this one names, this one decides."""
        if not self:
            return lower
        named = self.fields()

        def kept(section: Mapping[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in section.items() if k not in named}

        return ParamPolicy(
            defaults={**kept(lower.defaults), **self.defaults},
            override={**kept(lower.override), **self.override},
            drop=(lower.drop - named) | self.drop,
        )

    def public(self) -> dict[str, Any]:
        """As `explain` shows it: the three sections, fields in name order."""
        return {
            "defaults": dict(sorted(self.defaults.items())),
            "override": dict(sorted(self.override.items())),
            "drop": sorted(self.drop),
        }


NO_PARAMS = ParamPolicy()


def param_policy(spec: Any) -> ParamPolicy:
    """A validated `params:` block (or its absence) as a ParamPolicy."""
    if not isinstance(spec, Mapping):
        return NO_PARAMS
    return ParamPolicy(
        defaults=dict(spec.get("defaults", {})),
        override=dict(spec.get("override", {})),
        drop=frozenset(spec.get("drop", ())),
    )


def target_params(provider: Mapping[str, Any]) -> tuple[ParamPolicy, dict[str, ParamPolicy]]:
    """A provider spec's own policy, and each listed model's policy layered over it.

    A model that is not listed (one found by `models: discover`) has the provider's.
    """
    base = param_policy(provider.get("params"))
    models = provider.get("models")
    by_model = {
        entry["id"]: param_policy(entry.get("params")).over(base)
        for entry in (models if isinstance(models, list) else [])
        if isinstance(entry, Mapping)
    }
    return base, by_model
