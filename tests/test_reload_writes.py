"""Edits made the way people and tools make them are followed, watching or polling.

Each case switches the `spare` provider off and on again with one writer, and checks
the HTTP surface: off, its model leaves /v1/models and answers 404; on, it is back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import gateway
from tests.reload_helpers import (
    ADMIN_ENV,
    ADMIN_KEY,
    SPARE,
    WRITERS,
    Writer,
    admin_config,
    config_files,
    dump,
    providers,
    serving,
    wait_for,
    wait_serving,
)


@pytest.fixture(autouse=True)
def admin_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ADMIN_ENV, ADMIN_KEY)


@pytest.mark.parametrize("mode", ["inotify", "polling"])
@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: w.name)
def test_provider_toggle_is_followed(tmp_path: Path, writer: Writer, mode: str) -> None:
    directory = tmp_path / "cfg"
    writer.setup(directory, config_files(spare=True))
    with gateway(directory, poll=mode == "polling" or None) as base:
        assert serving(base, SPARE) is True
        writer.write(directory, "providers.yaml", dump(providers(spare=False)))
        wait_serving(base, SPARE, False)
        writer.write(directory, "providers.yaml", dump(providers(spare=True)))
        wait_serving(base, SPARE, True)
        status = admin_config(base)
        assert status["last_error"] is None
        assert status["reloads"]["applied"] >= 2


@pytest.mark.parametrize("mode", ["inotify", "polling"])
def test_server_yaml_in_its_subdirectory_is_followed(tmp_path: Path, mode: str) -> None:
    """config/server.yaml edited in place: the subdirectory is watched too."""
    directory = tmp_path / "cfg"
    writer = WRITERS[1]  # in place: only an event inside config/ can reveal it
    writer.setup(directory, config_files())
    with gateway(directory, poll=mode == "polling" or None) as base:
        assert admin_config(base)["restart_needed"] == []
        server_yaml = config_files()["config/server.yaml"] + "port: 8123\n"
        writer.write(directory, "config/server.yaml", server_yaml)
        wait_for(lambda: admin_config(base)["restart_needed"] == ["port"], "port needs restart")
