"""Docs that cannot drift: every setting, handler and kind is documented where users look."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from engine.config.settings import Settings
from engine.handlers import HANDLER_NAMES
from engine.providers import KINDS
from engine.search import SEARCH_KINDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_shipped_server_yaml_and_the_readme_names_its_variable() -> None:
    shipped = yaml.safe_load((ROOT / "config" / "server.yaml").read_text())
    for field in dataclasses.fields(Settings):
        assert field.name in shipped, f"config/server.yaml does not show {field.name}"
        value = getattr(Settings(), field.name)
        if dataclasses.is_dataclass(value) and field.name != "auth":
            for member in dataclasses.fields(value):
                assert member.name in shipped[field.name], f"{field.name}.{member.name}"
    assert "PATCHBAY_<BLOCK>_<NAME>" in README and "PATCHBAY_` + its name" in README


def test_every_handler_is_routed_in_the_shipped_routes_yaml() -> None:
    routes = yaml.safe_load((ROOT / "routes.yaml").read_text())["routes"]
    assert {r["handler"] for r in routes} == set(HANDLER_NAMES)


def test_every_kind_is_in_the_readme() -> None:
    for kind in [*KINDS, *SEARCH_KINDS]:
        assert f"`{kind}`" in README, kind
