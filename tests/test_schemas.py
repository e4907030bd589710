"""The config schemas as editors see them: described, exampled, printed, pointed at."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from engine.config.schema import SCHEMA_NAMES, load_schema, schema_file
from engine.handlers import HANDLER_NAMES
from engine.providers import KINDS

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = {"providers": "providers.yaml", "routes": "routes.yaml", "server": "config/server.yaml"}


def patchbay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=60
    )


def printed(name: str) -> dict[str, Any]:
    """The schema as `patchbay schema NAME` prints it."""
    result = patchbay("schema", name)
    assert result.returncode == 0, result.stderr
    schema: dict[str, Any] = json.loads(result.stdout)
    return schema


def fields(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every field of a schema (a property, a named entry, a definition), with a path."""
    for keyword in ("properties", "patternProperties", "$defs"):
        for name, sub in schema.get(keyword, {}).items():
            yield f"{path}/{keyword}/{name}", sub
    for keyword in ("additionalProperties", "items", "propertyNames"):
        sub = schema.get(keyword)
        if isinstance(sub, dict) and keyword == "additionalProperties" and "$ref" not in sub:
            yield f"{path}/{keyword}", sub  # the value of each named entry
        if isinstance(sub, dict):
            yield from fields(sub, f"{path}/{keyword}")
    for keyword in ("properties", "patternProperties", "$defs"):
        for name, sub in schema.get(keyword, {}).items():
            yield from fields(sub, f"{path}/{keyword}/{name}")
    for keyword in ("oneOf", "anyOf"):
        for i, sub in enumerate(schema.get(keyword, [])):
            yield from fields(sub, f"{path}/{keyword}/{i}")


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_field_has_a_description_and_examples_that_validate(name: str) -> None:
    schema = load_schema(name)
    found = list(fields(schema))
    assert len(found) >= 14
    for path, sub in found:
        assert sub.get("description"), f"{name}{path} has no description"
        if ("/$defs/" in path and path.count("/") == 2) or "propertyNames" in path:
            continue  # a definition is described where it is used, with examples there
        assert sub.get("examples"), f"{name}{path} has no examples"
        check = Draft202012Validator({**sub, "$defs": schema.get("$defs", {})})
        for example in sub["examples"]:
            assert not list(check.iter_errors(example)), f"{name}{path}: {example!r}"


def test_fields_are_found_at_every_depth() -> None:
    found = {path for path, _ in fields(load_schema("providers"))}
    assert "/$defs/alias/anyOf/2/properties/targets/items/properties/weight" in found
    assert "/$defs/provider/properties/headers/anyOf/0/additionalProperties" in found
    assert "/$defs/search/properties/engines/additionalProperties/properties/api_key" in found


def test_examples_name_the_real_handlers_and_kinds() -> None:
    route = load_schema("routes")["$defs"]["route"]["properties"]
    assert set(route["handler"]["examples"]) == set(HANDLER_NAMES)
    provider = load_schema("providers")["$defs"]["provider"]["properties"]
    assert set(provider["kind"]["examples"]) == set(KINDS)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_the_shipped_files_validate_against_the_printed_schema(name: str) -> None:
    schema = printed(name)
    assert schema == load_schema(name)
    data = yaml.safe_load((ROOT / SHIPPED[name]).read_text())
    assert list(Draft202012Validator(schema).iter_errors(data)) == []


@pytest.mark.parametrize(
    ("name", "typo", "word"),
    [
        ("providers", ("    kind: openai\n", "    knd: openai\n"), "knd"),
        ("routes", ("handler: models.list}", "handlr: models.list}"), "handlr"),
        ("server", ("log_level: info", "log_levl: info"), "log_levl"),
    ],
)
def test_an_editor_underlines_a_typo(
    tmp_path: Path, name: str, typo: tuple[str, str], word: str
) -> None:
    """What an editor does with the modeline: validate the file against the schema."""
    text = (ROOT / SHIPPED[name]).read_text().replace(*typo, 1)
    errors = list(Draft202012Validator(printed(name)).iter_errors(yaml.safe_load(text)))
    assert errors and any(word in error.message for error in errors)


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_the_shipped_files_point_at_the_installed_schemas(name: str) -> None:
    shipped = ROOT / SHIPPED[name]
    first = shipped.read_text().splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match, first
    target = (shipped.parent / match.group(1)).resolve()
    assert target == Path(str(schema_file(name))).resolve()


def test_schema_without_a_name_says_where_each_is() -> None:
    result = patchbay("schema")
    assert result.returncode == 0
    lines = [line.split() for line in result.stdout.splitlines()]
    assert [line[0] for line in lines] == list(SCHEMA_NAMES)
    assert all(Path(line[1]).is_file() for line in lines)
    assert patchbay("schema", "settings").returncode == 2  # argparse: not a choice


def test_x_keys_are_allowed_for_anchors(tmp_path: Path) -> None:
    data = {"x-common": {"kind": "openai"}, "providers": {"a": {"kind": "openai"}}}
    assert list(Draft202012Validator(load_schema("providers")).iter_errors(data)) == []


def test_check_passes_on_the_shipped_files_with_their_modelines(tmp_path: Path) -> None:
    for name in SHIPPED.values():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    result = subprocess.run(
        [sys.executable, "-m", "engine", "check", "--config-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ,
    )
    assert result.returncode == 0, result.stderr
