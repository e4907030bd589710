"""A bad edit never takes effect: the last good snapshot serves, /admin/config says
where the problem is, the problem is logged once, and a later good edit is applied."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.config import MAX_FILE_SIZE
from tests.harness import gateway
from tests.reload_helpers import (
    ADMIN_ENV,
    ADMIN_KEY,
    SPARE,
    LogRecords,
    Writer,
    admin_config,
    chat,
    config_files,
    dump,
    providers,
    request,
    serving,
    wait_for,
    wait_serving,
)

GOOD = dump(providers(spare=True))
# One line, flow style: cut anywhere, it cannot parse (block style cut at a line end can).
FLOW = (
    "providers: {echo: {kind: echo, models: [echo-1]},"
    " spare: {kind: echo, models: [spare-1], enabled: false}}\n"
)


@dataclass(frozen=True)
class BadEdit:
    name: str
    file: str
    text: str
    where: str  # regex the reported problem must match: file:line:col: message


BAD_EDITS = [
    BadEdit(
        "yaml-syntax",
        "providers.yaml",
        "providers:\n  echo: {kind: echo, models: [echo-1]}\n  spare: {kind: echo, models: [\n",
        r"providers\.yaml:4:1: YAML syntax error",
    ),
    BadEdit(
        "schema",
        "providers.yaml",
        "providers:\n  echo: {kind: echo, models: [echo-1]}\n"
        "  spare:\n    kind: echo\n    models: [spare-1]\n    enabled: maybe\n",
        r"providers\.yaml:6:14: expected true or false",
    ),
    BadEdit(
        "broken-reference",
        "providers.yaml",
        "providers:\n  echo: {kind: echo, models: [echo-1]}\naliases:\n  fast: nowhere/model-x\n",
        r"providers\.yaml:4:9: .*nowhere",
    ),
    BadEdit(
        "unknown-handler",
        "routes.yaml",
        "routes:\n  - {path: /v1/models, handler: models.list}\n"
        "  - {path: /v1/teleport, handler: teleport.now}\n",
        r"routes\.yaml:3:35: unknown handler .teleport\.now.",
    ),
    BadEdit(
        "over-size-cap",
        "providers.yaml",
        GOOD + "#" * MAX_FILE_SIZE + "\n",
        rf"providers\.yaml:1:1: file is larger than {MAX_FILE_SIZE} bytes",
    ),
    BadEdit(
        "emptied-server-yaml",  # valid alone (all defaults): an in-place save truncating
        "config/server.yaml",
        "",
        r"config/server\.yaml:1:1: file became empty",
    ),
    BadEdit(
        "truncated",
        "providers.yaml",
        FLOW[: len(FLOW) // 2],
        r"providers\.yaml:\d+:\d+: YAML syntax error",
    ),
]


@pytest.fixture(autouse=True)
def admin_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ADMIN_ENV, ADMIN_KEY)


def _rejected(base: str) -> dict[str, object] | None:
    status = admin_config(base)
    return status if status["last_error"] else None


@pytest.fixture
def reload_log() -> Iterator[LogRecords]:
    with LogRecords.of("patchbay.reload") as records:
        yield records


@pytest.mark.parametrize("edit", BAD_EDITS, ids=lambda e: e.name)
def test_bad_edit_keeps_serving_and_says_where(
    tmp_path: Path, edit: BadEdit, reload_log: LogRecords
) -> None:
    directory = tmp_path / "cfg"
    writer = Writer()
    writer.setup(directory, config_files(spare=True))
    with gateway(directory) as base:
        served = admin_config(base)["config_hash"]
        writer.write(directory, edit.file, edit.text)
        status = wait_for(lambda: _rejected(base), "the error shown at /admin/config")
        errors = status["last_error"]
        assert isinstance(errors, list)
        assert any(re.match(edit.where, e) for e in errors), errors
        assert status["config_hash"] == served
        assert status["last_error_at"]
        # The old snapshot serves everything it served, and the gateway stays ready.
        assert serving(base, SPARE) is True
        assert chat(base, "echo/echo-1")[0] == 200
        assert request("GET", base + "/ready")[0] == 200
        # A good edit (to whichever file) is applied and clears the error.
        writer.write(directory, edit.file, config_files(spare=False)[edit.file])
        if edit.file != "providers.yaml":
            writer.write(directory, "providers.yaml", dump(providers(spare=False)))
        wait_serving(base, SPARE, False)
        status = admin_config(base)
        assert status["last_error"] is None
        assert status["config_hash"] != served
    rejections = [m for m in reload_log.messages if m.startswith("config rejected")]
    assert len(rejections) == 1, rejections  # once per change, not once per event


def test_half_written_file_is_not_applied_until_complete(tmp_path: Path) -> None:
    """A writer that stops half-way: rejected meanwhile, applied once the rest arrives."""
    directory = tmp_path / "cfg"
    Writer().setup(directory, config_files(spare=True))
    full = FLOW
    with gateway(directory) as base, open(directory / "providers.yaml", "w") as handle:
        handle.write(full[: len(full) // 2])
        handle.flush()
        # (Truncating the file may be seen first: "file is empty" is rejected too.)
        wait_for(
            lambda: "YAML syntax error" in str(admin_config(base)["last_error"]),
            "the half file rejected",
        )
        assert serving(base, SPARE) is True
        handle.write(full[len(full) // 2 :])
        handle.flush()
        wait_serving(base, SPARE, False)
        assert admin_config(base)["last_error"] is None


def test_reverting_a_bad_edit_clears_the_error(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    writer = Writer()
    writer.setup(directory, config_files(spare=True))
    with gateway(directory) as base:
        writer.write(directory, "providers.yaml", BAD_EDITS[0].text)
        wait_for(lambda: _rejected(base), "the error shown")
        writer.write(directory, "providers.yaml", config_files(spare=True)["providers.yaml"])
        wait_for(lambda: admin_config(base)["last_error"] is None, "the error cleared")
        assert admin_config(base)["reloads"]["applied"] == 0  # the same bytes: nothing to swap


def test_a_vanished_server_yaml_is_refused_and_a_comment_gives_the_defaults(
    tmp_path: Path,
) -> None:
    """Without server.yaml the config is valid (all defaults, no admin key): a deletion is
    the middle of a directory being replaced as often as an intent, so only a file that
    says so (a comment) brings the defaults."""
    directory = tmp_path / "cfg"
    Writer().setup(directory, config_files())
    with gateway(directory) as base:
        (directory / "config" / "server.yaml").unlink()
        status = wait_for(lambda: _rejected(base), "the deletion refused")
        assert str(status["last_error"]).startswith("['config/server.yaml:1:1: file vanished")
        Writer().write(directory, "config/server.yaml", "# all defaults\n")
        wait_for(lambda: request("GET", base + "/admin/config")[0] == 404, "defaults applied")


def test_an_edit_removing_the_command_line_default_provider_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    writer = Writer()
    writer.setup(directory, config_files(spare=True))
    with gateway(directory, default_provider="spare") as base:
        without_spare = providers(spare=True)
        del without_spare["providers"]["spare"]
        writer.write(directory, "providers.yaml", dump(without_spare))
        status = wait_for(lambda: _rejected(base), "the error shown at /admin/config")
        assert any("default_provider 'spare'" in e for e in status["last_error"])
        assert chat(base, "auto")[0] == 200  # still the old snapshot, auto still spare's
