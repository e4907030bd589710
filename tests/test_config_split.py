"""Split configs: providers.d/*.yaml and routes.d/*.yaml merge into one validated snapshot."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine.config import load_config, read_sources
from engine.handlers import WIRE_FORMATS
from engine.live.lastgood import LastGood
from engine.live.reload import build_snapshot
from tests.harness import gateway
from tests.reload_helpers import (
    ADMIN_ENV,
    ADMIN_KEY,
    ConfigMap,
    InPlace,
    Writer,
    admin_config,
    config_files,
    dump,
    request,
    wait_for,
    wait_serving,
)
from tests.test_config import HANDLERS, KINDS, MIN_ROUTES, problems, write_config


def fragment(directory: Path, name: str, text: str) -> None:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def loaded(directory: Path) -> dict[str, dict[str, object]]:
    return load_config(read_sources(directory), handlers=HANDLERS, kinds=KINDS)


def test_fragments_merge_in_name_order_after_the_main_file(tmp_path: Path) -> None:
    write_config(
        tmp_path, providers="defaults: {provider: echo}\nproviders:\n  echo: {kind: echo}\n"
    )
    fragment(tmp_path, "providers.d/20-team-b.yaml", "providers:\n  b: {kind: echo}\n")
    fragment(
        tmp_path,
        "providers.d/10-team-a.yaml",
        """\
        defaults: {timeout: 5}
        providers:
          a: {kind: echo, models: [a-1]}
        aliases:
          team-a: a/a-1
        """,
    )
    fragment(tmp_path, "providers.d/.30-hidden.yaml", "providers:\n  hidden: {kind: echo}\n")
    fragment(tmp_path, "providers.d/notes.txt", "not yaml\n")
    fragment(tmp_path, "routes.d/extra.yaml", "routes:\n  - {path: /extra, handler: models.list}\n")
    data = loaded(tmp_path)
    assert list(data["providers"]["providers"]) == ["echo", "a", "b"]
    assert data["providers"]["defaults"] == {"provider": "echo", "timeout": 5}
    assert data["providers"]["aliases"] == {"team-a": "a/a-1"}
    assert [r["path"] for r in data["routes"]["routes"]] == [
        "/v1/chat/completions",
        "/v1/models",
        "/extra",
    ]
    assert sorted(read_sources(tmp_path).files) == [
        "providers.d/10-team-a.yaml",
        "providers.d/20-team-b.yaml",
        "providers.yaml",
        "routes.d/extra.yaml",
        "routes.yaml",
    ]


def test_a_name_defined_twice_names_both_files(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        providers="defaults: {timeout: 5}\nproviders:\n  echo: {kind: echo, models: [echo-1]}\n",
        routes=MIN_ROUTES + "errors:\n  not_found: {status: 404, type: x, message: gone}\n",
    )
    fragment(
        tmp_path,
        "providers.d/team.yaml",
        """\
        defaults: {timeout: 9}
        providers:
          echo: {kind: echo}
        aliases:
          fast: echo/echo-1
        """,
    )
    fragment(tmp_path, "providers.d/zz.yaml", "aliases:\n  fast: echo/echo-1\n")
    fragment(
        tmp_path,
        "routes.d/more.yaml",
        "errors:\n  not_found: {status: 404, type: x, message: again}\n",
    )
    assert problems(tmp_path) == [
        "providers.d/team.yaml:1:12: 'defaults.timeout' is already defined in providers.yaml:1:12"
        " (at defaults.timeout)",
        "providers.d/team.yaml:3:3: provider 'echo' is already defined in providers.yaml:3:3"
        " (at providers.echo)",
        "providers.d/zz.yaml:2:3: alias 'fast' is already defined in providers.d/team.yaml:5:3"
        " (at aliases.fast)",
        "routes.d/more.yaml:2:3: error template 'not_found' is already defined in routes.yaml:5:3"
        " (at errors.not_found)",
    ]


def test_problems_in_a_fragment_point_into_it(tmp_path: Path) -> None:
    write_config(tmp_path, providers="providers:\n  echo: {kind: echo, models: [echo-1]}\n")
    fragment(
        tmp_path,
        "providers.d/team.yaml",
        """\
        providers:
          groq: {kind: openai, timeout: -1, models: [llama]}
        aliases:
          fast: [groq/llama, echo/echo-2]
        """,
    )
    fragment(
        tmp_path,
        "routes.d/team.yaml",
        """\
        routes:
          - {path: /team, handler: models.list}
          - {path: /v1/models, handler: nope}
        """,
    )
    assert problems(tmp_path) == [
        "providers.d/team.yaml:2:33: must be greater than 0, got -1 (at providers.groq.timeout)",
        "providers.d/team.yaml:4:22: provider 'echo' does not list model 'echo-2' (listed: echo-1)"
        " (at aliases.fast[1])",
        "routes.d/team.yaml:3:12: route GET /v1/models is already declared by routes[1] in"
        " routes.yaml (at routes[1].path)",
        "routes.d/team.yaml:3:33: unknown handler 'nope' (known: chat.completions, models.list)"
        " (at routes[1].handler)",
    ]


def test_the_main_file_may_leave_everything_to_fragments(tmp_path: Path) -> None:
    write_config(tmp_path, providers="# see providers.d/\n")
    fragment(tmp_path, "providers.d/all.yaml", "providers:\n  echo: {kind: echo}\n")
    assert list(loaded(tmp_path)["providers"]["providers"]) == ["echo"]
    (tmp_path / "providers.d" / "all.yaml").write_text("aliases: {}\n")
    assert problems(tmp_path) == ["providers.yaml:1:1: missing required key 'providers'"]


def test_a_fragment_that_is_not_a_mapping(tmp_path: Path) -> None:
    write_config(tmp_path)
    fragment(tmp_path, "providers.d/bad.yaml", "- echo\n")
    fragment(tmp_path, "providers.d/worse.yaml", "providers: [echo]\n")
    assert problems(tmp_path) == [
        "providers.d/bad.yaml:1:1: the top level must be a mapping of keys",
    ]
    (tmp_path / "providers.d" / "bad.yaml").unlink()
    assert problems(tmp_path) == [
        "providers.d/worse.yaml:1:1: 'providers' is already defined in providers.yaml:1:1"
        " (at providers)",
    ]


def test_the_snapshot_and_the_last_good_copy_hold_the_fragments(tmp_path: Path) -> None:
    write_config(tmp_path / "cfg")
    fragment(
        tmp_path / "cfg", "providers.d/a.yaml", "providers:\n  a: {kind: echo, models: [a-1]}\n"
    )
    source = read_sources(tmp_path / "cfg")
    snapshot = build_snapshot(source, WIRE_FORMATS, {}, {})
    assert "a/a-1" in snapshot.model_ids()
    assert "providers.d/a.yaml" in snapshot.sources
    LastGood(tmp_path / "state").save(source)
    restored = LastGood(tmp_path / "state").load()
    assert restored is not None and restored.hash == source.hash


@pytest.fixture
def admin_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ADMIN_ENV, ADMIN_KEY)


def team(name: str, enabled: bool = True) -> str:
    return dump(
        {"providers": {name: {"kind": "echo", "models": [f"{name}-1"], "enabled": enabled}}}
    )


@pytest.mark.usefixtures("admin_key")
@pytest.mark.parametrize("mode", ["inotify", "polling"])
@pytest.mark.parametrize("writer", [Writer(), InPlace()], ids=lambda w: w.name)
def test_edits_in_providers_d_are_followed(tmp_path: Path, writer: Writer, mode: str) -> None:
    directory = tmp_path / "cfg"
    writer.setup(directory, {**config_files(), "providers.d/team.yaml": team("team")})
    with gateway(directory, poll=mode == "polling" or None) as base:
        wait_serving(base, "team/team-1", True)
        writer.write(directory, "providers.d/team.yaml", team("team", enabled=False))
        wait_serving(base, "team/team-1", False)
        writer.write(directory, "providers.d/other.yaml", team("other"))
        wait_serving(base, "other/other-1", True)
        # A folder that appears after start is watched too, and a file in it is seen.
        (directory / "routes.d").mkdir()
        extra = {"routes": [{"path": "/extra", "handler": "models.list"}]}
        writer.write(directory, "routes.d/extra.yaml", dump(extra))
        wait_for(lambda: request("GET", base + "/extra")[0] == 200, "/extra is routed")
        writer.write(directory, "routes.d/extra.yaml", dump({"routes": []}))
        wait_for(lambda: request("GET", base + "/extra")[0] == 404, "/extra is gone")
        # Deleting a team's file is how it is removed (unlike a main file, which is kept).
        (directory / "providers.d" / "other.yaml").unlink()
        wait_serving(base, "other/other-1", False)
        assert admin_config(base)["last_error"] is None


@pytest.mark.usefixtures("admin_key")
def test_a_configmap_mounted_as_providers_d_is_followed(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    Writer().setup(directory, config_files())
    mount = ConfigMap()
    mount.setup(directory / "providers.d", {"team.yaml": team("team")})
    with gateway(directory) as base:
        wait_serving(base, "team/team-1", True)
        mount.write(directory / "providers.d", "team.yaml", team("team", enabled=False))
        wait_serving(base, "team/team-1", False)
        wait_for(lambda: admin_config(base)["last_error"] is None, "no error")
