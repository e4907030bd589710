"""What changes between two views of a config (engine/snapshot/describe.py): `patchbay check --diff`.

    changes = diff(served, on_disk)
    {"providers": {"added": ["groq"], "removed": [], "changed": {"openai": [["timeout", 60, 30]]}},
     "models": {...}, "aliases": {...}, ..., "settings": {...}}

Sections hold named entries; an entry is added, removed, or changed field by field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from engine.config.settings import LISTENER_SETTINGS

SECTIONS = ("providers", "models", "aliases", "defaults", "search", "routes", "errors", "settings")
Change = tuple[str, Any, Any]  # field, before, after
_MISSING = "(unset)"


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Every section's added and removed names and changed fields; empty sections left out."""
    changes: dict[str, Any] = {}
    for section in SECTIONS:
        old, new = before.get(section, {}), after.get(section, {})
        changed = {
            name: _fields(old[name], new[name])
            for name in old
            if name in new and old[name] != new[name]
        }
        found = {
            "added": [name for name in new if name not in old],
            "removed": [name for name in old if name not in new],
            "changed": changed,
        }
        if any(found.values()):
            changes[section] = found
    return changes


def _fields(old: Any, new: Any, prefix: str = "") -> list[Change]:
    """Field by field for mappings; a list or a plain value changes as a whole."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [(prefix, old, new)]
    found: list[Change] = []
    for name in [*old, *(n for n in new if n not in old)]:
        before, after = old.get(name, _MISSING), new.get(name, _MISSING)
        if before != after:
            found += _fields(before, after, f"{prefix}{name}.")
    return [(field.rstrip("."), before, after) for field, before, after in found]


def render(changes: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The changes as lines: `+ name`, `- name`, `~ name  field: before -> after; ...`."""
    lines: list[str] = []
    for section, found in changes.items():
        lines.append(f"{section}:")
        lines += [f"  + {name}{_summary(section, after[section][name])}" for name in found["added"]]
        lines += [f"  - {name}" for name in found["removed"]]
        for name, fields in found["changed"].items():
            shown = "; ".join(_change(field, old, new) for field, old, new in fields)
            restart = (
                " (takes a restart)" if section == "settings" and name in LISTENER_SETTINGS else ""
            )
            lines.append(f"  ~ {name}  {shown}{restart}")
    return lines


def _summary(section: str, entry: Any) -> str:
    if section == "providers":
        return f"  ({entry['kind']}, {entry['status']}, {len(entry['models'])} model(s))"
    if section == "models":
        return f"  ({entry})"
    if section == "aliases":
        return f"  -> {', '.join(entry['targets'])}"
    if section == "routes":
        return f"  -> {entry['handler']}" + (
            "  (disabled)" if entry.get("enabled") is False else ""
        )
    if section == "settings" or not isinstance(entry, dict):
        return f"  {_shown(entry)}"
    return ""


def _change(field: str, old: Any, new: Any) -> str:
    label = f"{field}: " if field else ""
    if _names(old) and _names(new) and set(old) != set(new):
        # A list of names (models, origins): what came and went reads better than both lists.
        moved = [f"+{item}" for item in new if item not in old]
        moved += [f"-{item}" for item in old if item not in new]
        return label + " ".join(moved)
    return f"{label}{_shown(old)} -> {_shown(new)}"


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
