"""YAML anchors, aliases and merge keys: they load, bombs are refused, errors find their lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import aliases, load_config, read_sources
from engine.config.yamlfile import parse_yaml
from tests.test_config import HANDLERS, KINDS, problems, write_config


def loaded(directory: Path) -> dict[str, object]:
    providers = load_config(read_sources(directory), handlers=HANDLERS, kinds=KINDS)["providers"]
    assert isinstance(providers, dict)
    return providers


def test_an_anchored_block_is_shared_by_aliases(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        providers="""\
        providers:
          a: &openai {kind: openai, timeout: 30}
          echo: {kind: echo, models: &models [one, two]}
          b: *openai
          c: {kind: echo, models: *models}
        """,
    )
    assert loaded(tmp_path)["providers"] == {
        "a": {"kind": "openai", "timeout": 30},
        "echo": {"kind": "echo", "models": ["one", "two"]},
        "b": {"kind": "openai", "timeout": 30},
        "c": {"kind": "echo", "models": ["one", "two"]},
    }


def test_top_level_x_keys_hold_templates_and_are_dropped(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        providers="""\
        x-openai: &openai {kind: openai, timeout: 30, models: [m]}
        providers:
          a: {<<: *openai, base_url: "http://a.invalid/v1"}
          b: {<<: *openai, base_url: "http://b.invalid/v1"}
        """,
    )
    data = loaded(tmp_path)
    assert set(data) == {"providers"}
    assert data["providers"] == {
        name: {
            "kind": "openai",
            "timeout": 30,
            "models": ["m"],
            "base_url": f"http://{name}.invalid/v1",
        }
        for name in ("a", "b")
    }


def test_merge_keys_fill_in_what_the_mapping_does_not_say(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        providers="""\
        defaults: {provider: echo}
        providers:
          echo: &base {kind: echo, timeout: 5, models: [echo-1]}
          fast:
            timeout: 1          # written before the merge, still wins
            <<: *base
          slow:
            <<: [*base, {timeout: 99, enabled: false}]
          inline:
            <<: {kind: echo}
        """,
    )
    data = loaded(tmp_path)["providers"]
    assert isinstance(data, dict)
    assert data["fast"] == {"timeout": 1, "kind": "echo", "models": ["echo-1"]}
    # The earlier mapping of a merged list wins; what only the later one says is kept.
    assert data["slow"] == {"kind": "echo", "timeout": 5, "models": ["echo-1"], "enabled": False}
    assert data["inline"] == {"kind": "echo"}


BOMB = """\
providers:
  echo: {kind: echo, models: [echo-1]}
x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]
x1: &x1 [*x0, *x0, *x0, *x0, *x0, *x0, *x0, *x0, *x0, *x0]
x2: &x2 [*x1, *x1, *x1, *x1, *x1, *x1, *x1, *x1, *x1, *x1]
x3: &x3 [*x2, *x2, *x2, *x2, *x2, *x2, *x2, *x2, *x2, *x2]
x4: &x4 [*x3, *x3, *x3, *x3, *x3, *x3, *x3, *x3, *x3, *x3]
x5: &x5 [*x4, *x4, *x4, *x4, *x4, *x4, *x4, *x4, *x4, *x4]
x6: &x6 [*x5, *x5, *x5, *x5, *x5, *x5, *x5, *x5, *x5, *x5]
x7: &x7 [*x6, *x6, *x6, *x6, *x6, *x6, *x6, *x6, *x6, *x6]
x8: &x8 [*x7, *x7, *x7, *x7, *x7, *x7, *x7, *x7, *x7, *x7]
x9: &x9 [*x8, *x8, *x8, *x8, *x8, *x8, *x8, *x8, *x8, *x8]
x10: &x10 [*x9, *x9, *x9, *x9, *x9, *x9, *x9, *x9, *x9, *x9]
x11: &x11 [*x10, *x10, *x10, *x10, *x10, *x10, *x10, *x10, *x10, *x10]
x12: &x12 [*x11, *x11, *x11, *x11, *x11, *x11, *x11, *x11, *x11, *x11]
x13: &x13 [*x12, *x12, *x12, *x12, *x12, *x12, *x12, *x12, *x12, *x12]
x14: &x14 [*x13, *x13, *x13, *x13, *x13, *x13, *x13, *x13, *x13, *x13]
x15: &x15 [*x14, *x14, *x14, *x14, *x14, *x14, *x14, *x14, *x14, *x14]
x16: &x16 [*x15, *x15, *x15, *x15, *x15, *x15, *x15, *x15, *x15, *x15]
x17: [*x16, *x16, *x16, *x16, *x16, *x16, *x16, *x16, *x16, *x16]
"""


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    # About 10**18 values once expanded: this returns at all only because nothing is copied.
    write_config(tmp_path, providers=BOMB)
    [problem] = problems(tmp_path)
    assert problem.startswith("providers.yaml:20:7: YAML aliases expand this file to ")
    assert "more than the 100,000 allowed (*x16 alone stands for " in problem


def test_the_bound_counts_expanded_values_not_written_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aliases, "MAX_EXPANDED", 40)
    plain = "providers:\n  echo: {kind: echo, models: [" + ", ".join(["m"] * 50) + "]}\n"
    assert parse_yaml("providers.yaml", plain.encode()).problems == []  # as written: fine
    aliased = "a: &a [1, 2, 3, 4, 5]\nb: [*a, *a, *a, *a, *a, *a, *a]\n"
    [problem] = parse_yaml("providers.yaml", aliased.encode()).problems
    assert str(problem) == (
        "providers.yaml:2:5: YAML aliases expand this file to 52 values,"
        " more than the 40 allowed (*a alone stands for 6)"
    )


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    write_config(tmp_path, providers="providers: &p\n  echo: {kind: echo, more: *p}\n")
    assert problems(tmp_path) == [
        "providers.yaml:2:28: alias *p is inside its own anchor, so it never ends"
    ]
    write_config(tmp_path, providers="providers:\n  echo: &e {kind: echo, <<: *e}\n")
    assert problems(tmp_path) == [
        "providers.yaml:2:29: alias *e is inside its own anchor, so it never ends"
    ]


def test_nesting_through_aliases_is_bounded(tmp_path: Path) -> None:
    deep = "[" * 20 + "1" + "]" * 20
    text = f"a: &a {deep}\nb: &b {'[' * 20}*a{']' * 20}\nproviders: {{}}\n"
    [problem] = parse_yaml("providers.yaml", text.encode()).problems
    assert str(problem) == (
        "providers.yaml:2:27: nesting is deeper than 32 levels once aliases are expanded"
        " (*a alone is 21 deep)"
    )


def test_an_error_in_an_aliased_block_names_the_alias_and_the_anchor(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        providers="""\
        providers:
          echo: &base
            kind: echo
            timeout: -1
          copy: *base
        """,
    )
    assert problems(tmp_path) == [
        "providers.yaml:4:14: must be greater than 0, got -1 (at providers.copy.timeout;"
        " alias *base at 5:9, anchor &base at 2:9)",
        "providers.yaml:4:14: must be greater than 0, got -1 (at providers.echo.timeout)",
    ]


def test_an_error_in_a_merged_block_points_at_its_line(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        providers="""\
        providers:
          echo: {kind: echo}
          a:
            <<: &shared {kind: openai, timeoutt: 5}
          b:
            kind: echo
            <<: *shared
        """,
    )
    found = problems(tmp_path)
    assert len(found) == 2  # b's own `kind: echo` wins over the merged kind: no conflict
    assert all(p.startswith("providers.yaml:4:32: unknown key 'timeoutt' (allowed:") for p in found)
    assert {p.split("did you mean 'timeout'? ")[1] for p in found} == {
        "(at providers.a.timeoutt)",
        "(at providers.b.timeoutt; alias *shared at 7:9, anchor &shared at 4:9)",
    }


def test_a_wrong_type_through_an_alias_points_at_the_alias(tmp_path: Path) -> None:
    write_config(tmp_path, providers="x: &list [1]\nproviders:\n  echo: *list\n")
    found = problems(tmp_path)
    assert (
        "providers.yaml:3:9: expected a mapping, got a list"
        " (at providers.echo; alias *list at 3:9, anchor &list at 1:4)"
    ) in found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "providers:\n  echo: *base\n",
            "providers.yaml:2:9: YAML syntax error: alias *base has no anchor &base before it",
        ),
        (
            "a: &x 1\nb: &x 2\nproviders: {}\n",
            "providers.yaml:2:4: YAML syntax error: anchor &x is defined twice (first at 1:4)",
        ),
        (
            "k: &k echo\nproviders:\n  *k : {kind: echo}\n",
            "providers.yaml:3:3: a mapping key must be a plain value (at providers)",
        ),
        (
            "providers:\n  echo:\n    <<: [1]\n    kind: echo\n",
            "providers.yaml:3:10: a merge key"
            " '<<' takes a mapping or a list of mappings, e.g. <<: *defaults (at providers.echo)",
        ),
        (
            "providers:\n  echo:\n    <<: {kind: echo}\n    <<: {kind: echo}\n",
            "providers.yaml:4:5: duplicate key '<<' (merge a list: <<: [*a, *b])",
        ),
    ],
)
def test_alias_mistakes_are_named(text: str, expected: str) -> None:
    found = [str(p) for p in parse_yaml("providers.yaml", text.encode()).problems]
    assert found == [expected]


def test_an_anchored_key_is_just_a_key(tmp_path: Path) -> None:
    write_config(tmp_path, providers="providers:\n  &name echo: {kind: echo}\n")
    assert loaded(tmp_path)["providers"] == {"echo": {"kind": "echo"}}


def test_the_readme_example_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("```yaml\nx-openai-compatible:", 1)[1].split("```", 1)[0]
    write_config(tmp_path, providers="x-openai-compatible:" + block)
    providers = loaded(tmp_path)["providers"]
    assert isinstance(providers, dict)
    assert providers["together"]["timeout"] == 60 and providers["groq"]["timeout"] == 30
    assert providers["groq"]["headers"] == {"X-Title": "Patchbay"}
