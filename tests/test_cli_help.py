"""The command line explains itself: --version, help with defaults and choices for every
flag, no Markdown in the help; `patchbay init` writes the shipped config, also from a
wheel installed away from any checkout."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import _parser
from engine.config.settings import LOG_LEVELS
from engine.config.shipped import SHIPPED_FILES

ROOT = Path(__file__).resolve().parent.parent


def patchbay(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, **env},
    )


def subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_version() -> None:
    result = patchbay("--version")
    assert result.returncode == 0 and result.stdout.strip() == "patchbay 0.1.0"


def test_every_flag_has_help_with_its_default_and_no_backticks() -> None:
    for name, parser in subcommands().items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
            assert "default" in action.help, f"{name} {action.option_strings} names no default"
    for args in ([], *([name] for name in subcommands())):
        text = patchbay(*args, "--help").stdout
        assert "usage: patchbay" in text and "`" not in text, args


def test_the_log_level_flag_offers_its_choices() -> None:
    serve = subcommands()["serve"]
    (log_level,) = [a for a in serve._actions if "--log-level" in a.option_strings]
    assert tuple(log_level.choices or ()) == LOG_LEVELS
    result = patchbay("serve", "--log-level", "loud")
    assert result.returncode == 2 and "invalid choice: 'loud'" in result.stderr


def test_init_writes_the_shipped_config_and_never_overwrites_unasked(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    result = patchbay("init", str(target))
    assert result.returncode == 0, result.stderr
    assert f"patchbay serve --config-dir {target}" in result.stdout
    for name in SHIPPED_FILES:
        assert (target / name).read_bytes() == (ROOT / name).read_bytes()
    assert patchbay("check", "--config-dir", str(target)).returncode == 0
    (target / "providers.yaml").write_text("# mine\n")
    again = patchbay("init", str(target))
    assert again.returncode == 1 and "exists; --force overwrites it" in again.stderr
    assert (target / "providers.yaml").read_text() == "# mine\n"
    assert patchbay("init", str(target), "--force").returncode == 0
    assert (target / "providers.yaml").read_bytes() == (ROOT / "providers.yaml").read_bytes()


@pytest.mark.timeout(300)
def test_init_works_from_an_installed_wheel_away_from_the_checkout(tmp_path: Path) -> None:
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(ROOT)]
    subprocess.run(build, check=True, capture_output=True, timeout=240)
    (wheel,) = wheels.glob("patchbay-*.whl")
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-t", str(site)]
    subprocess.run([*install, str(wheel)], check=True, capture_output=True, timeout=120)
    away = tmp_path / "elsewhere"
    away.mkdir()
    # The installed copy comes first on the path; the checkout is nowhere near.
    result = patchbay("init", "cfg", cwd=away, PYTHONPATH=str(site))
    assert result.returncode == 0, result.stderr
    import_check = patchbay("check", "--config-dir", "cfg", cwd=away, PYTHONPATH=str(site))
    assert import_check.returncode == 0, import_check.stderr
    for name in SHIPPED_FILES:
        assert (away / "cfg" / name).read_bytes() == (ROOT / name).read_bytes()
    located = subprocess.run(
        [sys.executable, "-c", "import engine; print(engine.__file__)"],
        capture_output=True,
        text=True,
        cwd=away,
        env={**os.environ, "PYTHONPATH": str(site)},
        check=True,
    )
    assert located.stdout.startswith(str(site))
