"""A restart with a broken file on disk serves the last good config, and says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import create_app
from engine.config import ConfigInvalid, read_sources
from engine.live.lastgood import KEPT_VERSIONS, LastGood
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

BROKEN = "providers:\n  echo: {kind: echo, models: [echo-1]}\n  spare: {kind: echo\n"


@pytest.fixture(autouse=True)
def admin_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ADMIN_ENV, ADMIN_KEY)


@pytest.mark.parametrize("where", ["default", "server.yaml"])
def test_restart_with_a_broken_file_serves_the_last_applied_config(
    tmp_path: Path, where: str
) -> None:
    directory = tmp_path / "cfg"
    # state_dir from server.yaml must be found although providers.yaml is what broke.
    extra = {"state_dir": str(tmp_path / "state")} if where == "server.yaml" else {}
    writer = Writer()
    writer.setup(directory, config_files(spare=True, **extra))
    with gateway(directory) as base:
        writer.write(directory, "providers.yaml", dump(providers(spare=False)))
        wait_serving(base, SPARE, False)
        applied = admin_config(base)["config_hash"]
    writer.write(directory, "providers.yaml", BROKEN)

    with LogRecords.of("patchbay") as log, gateway(directory) as base:
        # Said once, by the start-up summary.
        assert [m for m in log.messages if m.startswith("CONFIG ON DISK IS INVALID")]
        assert serving(base, SPARE) is False  # the last applied edit, not the first load
        assert chat(base, "echo/echo-1")[0] == 200
        assert request("GET", base + "/ready")[0] == 200
        status = admin_config(base)
        assert status["serving_last_good"] is True
        assert status["config_hash"] == applied
        assert any(
            e.startswith("providers.yaml:4:1: YAML syntax error") for e in status["last_error"]
        )
        # Fixing the file ends the fallback.
        writer.write(directory, "providers.yaml", dump(providers(spare=True)))
        wait_serving(base, SPARE, True)
        status = admin_config(base)
        assert status["serving_last_good"] is False
        assert status["last_error"] is None


def test_restart_with_the_last_good_bytes_back_on_disk_is_not_a_fallback(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    writer = Writer()
    writer.setup(directory, config_files())
    with gateway(directory):
        pass
    writer.write(directory, "providers.yaml", BROKEN)
    with gateway(directory) as base:
        assert admin_config(base)["serving_last_good"] is True
        writer.write(directory, "providers.yaml", config_files()["providers.yaml"])
        wait_for(lambda: admin_config(base)["serving_last_good"] is False, "fallback over")
        assert admin_config(base)["last_error"] is None


def test_without_a_last_good_config_start_up_fails_with_the_problems(tmp_path: Path) -> None:
    directory = tmp_path / "cfg"
    Writer().setup(directory, {**config_files(), "providers.yaml": BROKEN})
    with pytest.raises(ConfigInvalid) as caught:
        create_app(directory)
    assert str(caught.value.problems[0]).startswith("providers.yaml:4:1: YAML syntax error")


def test_last_good_is_a_whole_config_swapped_in_at_once(tmp_path: Path) -> None:
    """Each save is a complete directory behind one symlink; old versions are pruned."""
    directory = tmp_path / "cfg"
    state = LastGood(tmp_path / "state")
    sources = []
    for timeout in range(1, 7):
        data = providers()
        data["defaults"]["timeout"] = timeout
        Writer().setup(directory, {**config_files(), "providers.yaml": dump(data)})
        sources.append(read_sources(directory))
        state.save(sources[-1])
        loaded = state.load()
        assert loaded is not None and loaded.hash == sources[-1].hash
    assert state.link.is_symlink()
    versions = list(state.state_dir.glob("last-good.*"))
    assert len(versions) == KEPT_VERSIONS
    state.save(sources[-1])  # the same bytes again: nothing written
    assert sorted(state.state_dir.glob("last-good.*")) == sorted(versions)
    assert not list(state.state_dir.glob(".staging-*"))
