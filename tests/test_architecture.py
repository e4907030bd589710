"""docs/architecture.md names only files and folders that exist, and every package."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "architecture.md").read_text()


def named_paths() -> set[str]:
    return {p for p in re.findall(r"`([\w./<>-]+)`", PAGE) if "/" in p and "<" not in p}


def test_every_named_path_exists() -> None:
    missing = sorted(p for p in named_paths() if not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names what does not exist: {missing}"


def test_every_package_is_on_the_map() -> None:
    packages = {
        f"engine/{p.name}/"
        for p in (ROOT / "engine").iterdir()
        if (p / "__init__.py").exists() and p.name != "templates"
    }
    assert packages <= named_paths(), sorted(packages - named_paths())


def test_pyproject_ships_every_package() -> None:
    """setuptools is given the packages by name: a new folder must be listed there."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "engine").rglob("__init__.py")
    }
    assert found <= listed, sorted(found - listed)
