"""engine.config: config files -> one validated dict, or every problem at file:line:col."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from engine.config import (
    MAX_FILE_SIZE,
    ConfigInvalid,
    Problem,
    env_refs,
    load_config,
    read_sources,
    resolve_env,
)
from engine.config.schema import load_schema

CONFIGS = Path(__file__).parent / "configs"
HANDLERS = {"chat.completions", "models.list"}
KINDS = {"echo", "openai"}
SPEC_HANDLERS = HANDLERS | {"embeddings.create", "images.generations", "models.get", "search.query"}
SPEC_HANDLERS |= {"admin.config", "admin.explain"}

MIN_ROUTES = """\
routes:
  - {path: /v1/chat/completions, methods: [POST], handler: chat.completions}
  - {path: /v1/models, handler: models.list}
"""
MIN_PROVIDERS = """\
providers:
  echo: {kind: echo, models: [echo-1]}
"""


def write_config(
    directory: Path,
    *,
    routes: str | None = MIN_ROUTES,
    providers: str | None = MIN_PROVIDERS,
    server: str | None = None,
) -> Path:
    """A config directory holding the given files (None leaves a file out)."""
    for name, text in (
        ("routes.yaml", routes),
        ("providers.yaml", providers),
        ("config/server.yaml", server),
    ):
        if text is not None:
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
    return directory


def problems(directory: Path, handlers: set[str] = HANDLERS, kinds: set[str] = KINDS) -> list[str]:
    """Every problem reported for `directory`, as `patchbay check` prints them."""
    with pytest.raises(ConfigInvalid) as caught:
        load_config(read_sources(directory), handlers=handlers, kinds=kinds)
    return [str(problem) for problem in caught.value.problems]


# -- golden fixtures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "handlers", "kinds"),
    [
        ("config-spec", SPEC_HANDLERS, KINDS | {"anthropic"}),
        ("config-minimal", HANDLERS, KINDS),
        ("config-policies", HANDLERS | {"admin.explain"}, KINDS),
    ],
)
def test_good_config_loads_to_its_golden_dict(
    name: str, handlers: set[str], kinds: set[str]
) -> None:
    directory = CONFIGS / name
    loaded = load_config(read_sources(directory), handlers=handlers, kinds=kinds)
    assert loaded == json.loads((directory / "expected.json").read_text())


def test_env_references_are_left_for_the_compiler() -> None:
    loaded = load_config(
        read_sources(CONFIGS / "config-spec"), handlers=SPEC_HANDLERS, kinds=KINDS | {"anthropic"}
    )
    assert loaded["providers"]["providers"]["openai"]["api_key"] == "${OPENAI_API_KEY}"
    assert loaded["server"]["auth"]["admin_key"] == "${PATCHBAY_ADMIN_KEY}"


def test_broken_config_reports_every_problem_in_every_file() -> None:
    expected = (CONFIGS / "config-broken" / "problems.txt").read_text().splitlines()
    assert problems(CONFIGS / "config-broken") == expected
    files = {line.split(":")[0] for line in expected}
    assert files == {"routes.yaml", "providers.yaml", "config/server.yaml"}


def test_schemas_are_valid_2020_12() -> None:
    from jsonschema import Draft202012Validator

    for name in ("routes", "providers", "server"):
        Draft202012Validator.check_schema(load_schema(name))


# -- one test per problem kind -----------------------------------------------------------


def test_syntax_error_points_at_the_yaml_mark(tmp_path: Path) -> None:
    write_config(tmp_path, providers="providers:\n  echo: {kind: echo\n  other: 1\n")
    assert problems(tmp_path) == [
        "providers.yaml:3:8: YAML syntax error: expected ',' or '}', but got ':'"
    ]


def test_unknown_key_points_at_the_key_and_suggests(tmp_path: Path) -> None:
    write_config(tmp_path, providers="providers:\n  echo:\n    kindd: echo\n    kind: echo\n")
    assert problems(tmp_path) == [
        "providers.yaml:3:5: unknown key 'kindd' (allowed: api_key, auth, base_url, enabled,"
        " headers, image_base_url, kind, local, models, params, query, responses, stream_usage,"
        " timeout);"
        " did you mean 'kind'?"
        " (at providers.echo.kindd)"
    ]


def test_unknown_top_level_key(tmp_path: Path) -> None:
    write_config(tmp_path, server="port: 8000\nprot: 9000\n")
    assert problems(tmp_path)[0].startswith("config/server.yaml:2:1: unknown key 'prot' (allowed:")


def test_wrong_type_points_at_the_value(tmp_path: Path) -> None:
    write_config(tmp_path, server="host: 127.0.0.1\nport: eighty\n")
    assert problems(tmp_path) == [
        "config/server.yaml:2:7: expected an integer, got 'eighty' (at port)"
    ]


def test_env_reference_where_a_number_is_required(tmp_path: Path) -> None:
    write_config(tmp_path, server="port: ${PORT}\n")
    assert problems(tmp_path) == [
        "config/server.yaml:1:7: expected an integer, got '${PORT}'"
        " (${VAR} references work only where a string is expected) (at port)"
    ]


def test_missing_required_key_points_at_the_parent(tmp_path: Path) -> None:
    routes = "routes:\n  - path: /v1/models\n    methods: [GET]\n"
    write_config(tmp_path, routes=routes)
    assert problems(tmp_path) == ["routes.yaml:2:5: missing required key 'handler' (at routes[0])"]


def test_duplicate_key_points_at_the_second(tmp_path: Path) -> None:
    providers = """\
    providers:
      echo: {kind: echo}
      other: {kind: echo}
      echo: {kind: openai}
    """
    write_config(tmp_path, providers=providers)
    assert problems(tmp_path) == ["providers.yaml:4:3: duplicate key 'echo' (at providers.echo)"]


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    write_config(tmp_path)
    (tmp_path / "routes.yaml").write_bytes(b"#" * (MAX_FILE_SIZE + 1))
    with pytest.raises(ConfigInvalid) as caught:
        read_sources(tmp_path)
    assert [str(p) for p in caught.value.problems] == [
        f"routes.yaml:1:1: file is larger than {MAX_FILE_SIZE} bytes"
    ]


def test_file_of_exactly_the_cap_is_read(tmp_path: Path) -> None:
    write_config(tmp_path)
    padding = b"#" * (MAX_FILE_SIZE - len(MIN_ROUTES) - 1)
    (tmp_path / "routes.yaml").write_bytes(MIN_ROUTES.encode() + padding + b"\n")
    assert len(read_sources(tmp_path).files["routes.yaml"]) == MAX_FILE_SIZE


def test_unknown_handler(tmp_path: Path) -> None:
    routes = "routes:\n  - {path: /v1/images/generations, handler: images.generations}\n"
    write_config(tmp_path, routes=routes)
    assert problems(tmp_path) == [
        "routes.yaml:2:45: unknown handler 'images.generations'"
        " (known: chat.completions, models.list) (at routes[0].handler)"
    ]


def test_unknown_kind(tmp_path: Path) -> None:
    write_config(tmp_path, providers="providers:\n  claude:\n    kind: anthropic\n")
    assert problems(tmp_path) == [
        "providers.yaml:3:11: unknown provider kind 'anthropic' (known: echo, openai)"
        " (at providers.claude.kind)"
    ]


def test_bad_alias_targets(tmp_path: Path) -> None:
    providers = """\
    providers:
      echo: {kind: echo, models: [echo-1]}
      local: {kind: openai, models: discover}
    aliases:
      fine: [echo/echo-1, local/anything/with/slashes]
      ghost: groq/llama
      typo: echo/echo-2
      noslash: echo
      long:
        targets: [{model: ghost/x}]
    """
    write_config(tmp_path, providers=providers)
    assert problems(tmp_path) == [
        "providers.yaml:6:10: provider 'groq' is not declared (declared: echo, local)"
        " (at aliases.ghost)",
        "providers.yaml:7:9: provider 'echo' does not list model 'echo-2' (listed: echo-1)"
        " (at aliases.typo)",
        "providers.yaml:8:12: an alias target is written PROVIDER/MODEL (at aliases.noslash)",
        "providers.yaml:10:23: provider 'ghost' is not declared (declared: echo, local)"
        " (at aliases.long.targets[0].model)",
    ]


def test_bad_default_provider(tmp_path: Path) -> None:
    providers = "defaults:\n  provider: openai\nproviders:\n  echo: {kind: echo}\n"
    write_config(tmp_path, providers=providers, server="default_provider: nobody\n")
    assert problems(tmp_path) == [
        "config/server.yaml:1:19: provider 'nobody' is not declared (declared: echo)"
        " (at default_provider)",
        "providers.yaml:2:13: provider 'openai' is not declared (declared: echo)"
        " (at defaults.provider)",
    ]


def test_duplicate_enabled_route(tmp_path: Path) -> None:
    routes = """\
    routes:
      - {path: /v1/models, methods: [GET, HEAD], handler: models.list}
      - {path: /v1/models, handler: models.list, enabled: false}
      - {path: /v1/models, handler: models.list}
    """
    write_config(tmp_path, routes=routes)
    assert problems(tmp_path) == [
        "routes.yaml:4:12: route GET /v1/models is already declared by routes[0]"
        " (at routes[2].path)"
    ]


def test_unknown_search_default(tmp_path: Path) -> None:
    providers = (
        MIN_PROVIDERS + "search:\n  default: bing\n  engines:\n    ddg: {kind: duckduckgo}\n"
    )
    write_config(tmp_path, providers=providers)
    assert problems(tmp_path) == [
        "providers.yaml:4:12: search engine 'bing' is not declared (declared: ddg)"
        " (at search.default)"
    ]


def test_unknown_search_fallback_and_alias_engine(tmp_path: Path) -> None:
    providers = MIN_PROVIDERS + textwrap.dedent(
        """\
        aliases:
          web: {targets: [{model: echo/echo-1}], search: {engine: google, max_results: 3}}
        search:
          fallback: [ddg, bing]
          cache: {ttl: 0}
          engines:
            ddg: {kind: duckduckgo}
        """
    )
    write_config(tmp_path, providers=providers)
    assert problems(tmp_path) == [
        "providers.yaml:4:59: search engine 'google' is not declared (declared: ddg)"
        " (at aliases.web.search.engine)",
        "providers.yaml:6:19: search engine 'bing' is not declared (declared: ddg)"
        " (at search.fallback[1])",
    ]


def test_every_problem_in_one_file_is_reported(tmp_path: Path) -> None:
    server = """\
    port: 70000
    workers: 0
    log_level: loud
    watch: {enabled: maybe}
    auth:
      keys:
        - {name: a, key: x, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
    """
    write_config(tmp_path, server=server)
    assert problems(tmp_path) == [
        "config/server.yaml:1:7: must be at most 65535, got 70000 (at port)",
        "config/server.yaml:2:10: must be at least 1, got 0 (at workers)",
        "config/server.yaml:3:12: 'loud' is not one of: critical, error, warning, info, debug"
        " (at log_level)",
        "config/server.yaml:4:18: expected true or false, got 'maybe' (at watch.enabled)",
        "config/server.yaml:7:7: a key has exactly one of 'key' or 'sha256' (at auth.keys[0])",
    ]


def test_unquoted_status_class_gets_a_hint(tmp_path: Path) -> None:
    providers = (
        MIN_PROVIDERS + "aliases:\n  a: {targets: [{model: echo/echo-1}], fallback_on: [429]}\n"
    )
    write_config(tmp_path, providers=providers)
    assert problems(tmp_path) == [
        "providers.yaml:4:54: 429 is not one of: connect, timeout, 429, 5xx"
        ' (write "429" in quotes) (at aliases.a.fallback_on[0])'
    ]


def test_error_template_syntax_is_checked(tmp_path: Path) -> None:
    routes = MIN_ROUTES + "errors:\n  not_found: {status: 404, type: x, message: '{{ oops'}\n"
    write_config(tmp_path, routes=routes)
    [problem] = problems(tmp_path)
    assert problem.startswith("routes.yaml:5:46: template error: ")
    assert problem.endswith("(at errors.not_found.message)")


def test_malformed_env_reference(tmp_path: Path) -> None:
    providers = "providers:\n  o: {kind: openai, api_key: '${OPENAI_KEY'}\n"
    write_config(tmp_path, providers=providers)
    assert problems(tmp_path) == [
        "providers.yaml:2:30: malformed environment reference: write ${NAME},"
        " ${NAME:-default} or ${NAME:?message} ($${ for a literal ${) (at providers.o.api_key)"
    ]


# -- files as a whole --------------------------------------------------------------------


def test_missing_required_files_are_all_reported(tmp_path: Path) -> None:
    write_config(tmp_path, routes=None, providers=None)
    with pytest.raises(ConfigInvalid) as caught:
        read_sources(tmp_path)
    assert [(p.file, p.line, p.col) for p in caught.value.problems] == [
        ("providers.yaml", 1, 1),
        ("routes.yaml", 1, 1),
    ]


def test_missing_or_empty_server_file_means_no_settings(tmp_path: Path) -> None:
    write_config(tmp_path)
    assert "config/server.yaml" not in read_sources(tmp_path).files
    loaded = load_config(read_sources(tmp_path), handlers=HANDLERS, kinds=KINDS)
    assert loaded["server"] == {}
    write_config(tmp_path, server="# all defaults\n")
    loaded = load_config(read_sources(tmp_path), handlers=HANDLERS, kinds=KINDS)
    assert loaded["server"] == {}


def test_empty_routes_file_is_a_problem(tmp_path: Path) -> None:
    write_config(tmp_path, routes="# nothing yet\n")
    assert problems(tmp_path) == [
        "routes.yaml:1:1: file is empty; it needs at least a 'routes' key"
    ]


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    write_config(tmp_path, providers="- echo\n- openai\n")
    assert problems(tmp_path) == ["providers.yaml:1:1: the top level must be a mapping of keys"]


def test_keys_stay_text_as_written(tmp_path: Path) -> None:
    # YAML 1.1 would read `on` as true; a provider may still be called "on".
    write_config(tmp_path, providers="providers:\n  on: {kind: echo}\n  '404': {kind: echo}\n")
    loaded = load_config(read_sources(tmp_path), handlers=HANDLERS, kinds=KINDS)
    assert set(loaded["providers"]["providers"]) == {"on", "404"}


def test_python_tags_are_refused(tmp_path: Path) -> None:
    write_config(tmp_path, server="host: !!python/object/apply:os.getcwd []\n")
    assert problems(tmp_path) == [
        "config/server.yaml:1:7: unsupported YAML tag"
        " tag:yaml.org,2002:python/object/apply:os.getcwd (at host)"
    ]


def test_python_scalar_tags_are_refused(tmp_path: Path) -> None:
    write_config(tmp_path, server="host: !!python/name:os.getcwd ''\nport: 1\n")
    [problem] = problems(tmp_path)
    assert problem.startswith("config/server.yaml:1:7: unsupported YAML value: ")


def test_deep_nesting_is_refused_not_a_crash(tmp_path: Path) -> None:
    write_config(tmp_path, server="cors_origins: " + "[" * 5000 + "]" * 5000 + "\n")
    assert problems(tmp_path) == [
        "config/server.yaml:1:46: YAML syntax error: nesting is deeper than 32 levels"
    ]


def test_invalid_utf8_is_a_problem(tmp_path: Path) -> None:
    write_config(tmp_path)
    (tmp_path / "providers.yaml").write_bytes(b"providers:\n  echo: {kind: \xff}\n")
    assert problems(tmp_path) == ["providers.yaml:2:16: file is not valid UTF-8"]


# -- sources -----------------------------------------------------------------------------


def test_hash_is_stable_and_follows_content(tmp_path: Path) -> None:
    write_config(tmp_path)
    first = read_sources(tmp_path).hash
    assert read_sources(tmp_path).hash == first
    write_config(tmp_path, providers=MIN_PROVIDERS + "# edited\n")
    assert read_sources(tmp_path).hash != first


def test_kubernetes_data_symlink_swap_is_followed(tmp_path: Path) -> None:
    """A ConfigMap mount: files are symlinks through `..data`, which is swapped atomically."""
    first = write_config(tmp_path / "..2024_01_01", server="port: 8001\n")
    second = write_config(tmp_path / "..2024_01_02", server="port: 8002\n")
    (tmp_path / "..data").symlink_to(first.name)
    (tmp_path / "config").mkdir()
    for name in ("routes.yaml", "providers.yaml", "config/server.yaml"):
        (tmp_path / name).symlink_to(Path("../..data" if "/" in name else "..data") / name)
    before = load_config(read_sources(tmp_path), handlers=HANDLERS, kinds=KINDS)
    swap = tmp_path / "..data_tmp"
    swap.symlink_to(second.name)
    os.replace(swap, tmp_path / "..data")
    after = load_config(read_sources(tmp_path), handlers=HANDLERS, kinds=KINDS)
    assert (before["server"]["port"], after["server"]["port"]) == (8001, 8002)


def test_problem_renders_like_a_compiler_message() -> None:
    problem = Problem("providers.yaml", 12, 5, "unknown key 'kindd'", "providers.openai.kindd")
    assert str(problem) == "providers.yaml:12:5: unknown key 'kindd' (at providers.openai.kindd)"
    assert str(Problem("routes.yaml", 1, 1, "file is empty")) == "routes.yaml:1:1: file is empty"


def test_problems_are_sorted_by_file_then_line() -> None:
    unsorted = [
        Problem("b.yaml", 1, 1, "x"),
        Problem("a.yaml", 9, 1, "y"),
        Problem("a.yaml", 2, 3, "z"),
    ]
    ordered = ConfigInvalid(unsorted).problems
    assert [(p.file, p.line) for p in ordered] == [("a.yaml", 2), ("a.yaml", 9), ("b.yaml", 1)]


# -- ${VAR} references -------------------------------------------------------------------

ENVIRON = {"OPENAI_API_KEY": "sk-test", "HOST": "api.example.com", "EMPTY": ""}


@pytest.mark.parametrize(
    ("value", "resolved"),
    [
        ("${OPENAI_API_KEY}", "sk-test"),
        ("https://${HOST}/v1", "https://api.example.com/v1"),
        ("${HOST}:${HOST}", "api.example.com:api.example.com"),
        ("plain text", "plain text"),
        ("$${OPENAI_API_KEY}", "${OPENAI_API_KEY}"),
        ("cost: $5", "cost: $5"),
        ("${UNSET}", None),
        ("https://${HOST}/${UNSET}", None),
        ("${EMPTY}", None),
        ("$${UNSET} is literal", "${UNSET} is literal"),
    ],
)
def test_resolve_env(value: str, resolved: str | None) -> None:
    assert resolve_env(value, ENVIRON) == resolved


def test_env_refs_lists_names_but_not_escapes() -> None:
    assert env_refs("https://${HOST}/${PATH_PART}?k=$${NOT_A_REF}") == ["HOST", "PATH_PART"]
    assert env_refs("no references") == []
