"""What an applied reload changed, in words for its log line: the files that changed
and what the new snapshot serves differently (providers, models, aliases, routes,
settings, search engines). Values of settings are never shown, only their names."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from engine.config.sources import ConfigSource
from engine.snapshot.model import Plan, Snapshot

NAMED = 6  # names listed per kind of change before "and N more"
STATUS_WORDS = {"active": "active", "disabled": "switched off", "missing_key": "missing its key"}


def changed_files(before: ConfigSource, after: ConfigSource) -> list[str]:
    """The files whose bytes differ, appeared or went, by name."""
    names = sorted(set(before.files) | set(after.files))
    return [n for n in names if before.files.get(n) != after.files.get(n)]


def what_changed(before: Snapshot, after: Snapshot) -> list[str]:
    """One phrase per kind of change; empty when nothing served changed (comments)."""
    return [
        *_providers(before, after),
        *_added_removed("models", _served(before), _served(after)),
        *_aliases(before, after),
        *_routes(before, after),
        *_settings(before, after),
        *_added_removed(
            "search engines", before.search.active(), after.search.active(), "on", "off"
        ),
    ]


def _names(names: Iterable[str]) -> str:
    listed = sorted(names)
    shown = ", ".join(listed[:NAMED])
    return shown + (f" and {len(listed) - NAMED} more" if len(listed) > NAMED else "")


def _added_removed(
    what: str,
    before: Iterable[str],
    after: Iterable[str],
    plus: str = "added",
    minus: str = "removed",
) -> list[str]:
    old, new = set(before), set(after)
    phrases = []
    if new - old:
        phrases.append(f"{what} {plus}: {_names(new - old)}")
    if old - new:
        phrases.append(f"{what} {minus}: {_names(old - new)}")
    return phrases


def _providers(before: Snapshot, after: Snapshot) -> list[str]:
    phrases = _added_removed("providers", before.providers, after.providers)
    for name, provider in after.providers.items():
        old = before.providers.get(name)
        if old is not None and old.status != provider.status:
            phrases.append(f"provider {name} {STATUS_WORDS[provider.status]}")
    return phrases


def _served(snapshot: Snapshot) -> list[str]:
    return [m for m in snapshot.model_ids() if m not in snapshot.aliases]


def _aliases(before: Snapshot, after: Snapshot) -> list[str]:
    phrases = _added_removed("aliases", before.aliases, after.aliases)
    changed = [
        name
        for name, plan in after.aliases.items()
        if name in before.aliases and _targets(before.aliases[name]) != _targets(plan)
    ]
    if changed:
        phrases.append(f"aliases changed: {_names(changed)}")
    return phrases


def _targets(plan: Plan) -> tuple[object, ...]:
    return tuple(t.public_id for t in plan.targets), plan.weights, plan.strategy


def _routes(before: Snapshot, after: Snapshot) -> list[str]:
    def table(snapshot: Snapshot) -> Mapping[str, tuple[object, ...]]:
        return {
            r.path: (r.handler, tuple(sorted(r.methods)), r.enabled) for r in snapshot.routes.routes
        }

    old, new = table(before), table(after)
    phrases = _added_removed("routes", old, new)
    on = [p for p in new if p in old and new[p][2] and not old[p][2]]
    off = [p for p in new if p in old and old[p][2] and not new[p][2]]
    other = [p for p in new if p in old and new[p][:2] != old[p][:2]]
    for word, paths in (("switched on", on), ("switched off", off), ("changed", other)):
        if paths:
            phrases.append(f"routes {word}: {_names(paths)}")
    return phrases


def _settings(before: Snapshot, after: Snapshot) -> list[str]:
    names = [
        f.name
        for f in dataclasses.fields(after.settings)
        if getattr(before.settings, f.name) != getattr(after.settings, f.name)
    ]
    return [f"settings changed: {', '.join(names)}"] if names else []
