"""Upstream URLs (`base_url`, `image_base_url`, search engines' `base_url`) are http or https.

Anything else is refused by `patchbay check` and by a reload, at the file and line of the
value; private and link-local hosts are allowed: the operator writes these URLs, and
local models live on such addresses.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.config import ConfigInvalid, read_sources
from engine.handlers import WIRE_FORMATS
from engine.live.reload import build_snapshot
from tests.harness import write_config


def _providers(url: str, where: str = "provider") -> dict[str, Any]:
    data: dict[str, Any] = {
        "defaults": {"provider": "echo"},
        "providers": {"echo": {"kind": "echo", "models": ["echo-1"]}},
    }
    if where == "provider":
        data["providers"]["up"] = {"kind": "openai", "base_url": url, "models": ["m"]}
    elif where == "image":
        data["providers"]["pics"] = {"kind": "pollinations", "image_base_url": url, "models": ["p"]}
    else:
        data["search"] = {"engines": {"sx": {"kind": "searxng", "base_url": url}}}
    return data


def _problems(directory: Path, environ: dict[str, str] | None = None) -> list[str]:
    try:
        build_snapshot(read_sources(directory), WIRE_FORMATS, environ or {}, {})
    except ConfigInvalid as invalid:
        return [str(problem) for problem in invalid.problems]
    return []


def _line_of(directory: Path, needle: str) -> int:
    lines = (directory / "providers.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


@pytest.mark.parametrize("where", ["provider", "image", "search"])
@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://example.com/", "localhost:11434/v1", "https://"]
)
def test_a_url_that_is_not_http_is_refused_at_its_line(
    tmp_path: Path, url: str, where: str
) -> None:
    directory = write_config(tmp_path / "cfg", _providers(url, where))
    problems = _problems(directory)
    line = _line_of(directory, "base_url")
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"providers.yaml:{line}:"), problems
    assert "http:// or https://" in problems[0]


@pytest.mark.parametrize("where", ["provider", "image", "search"])
def test_a_url_from_a_variable_is_checked_once_resolved_and_never_shown(
    tmp_path: Path, where: str
) -> None:
    directory = write_config(tmp_path / "cfg", _providers("${UPSTREAM_URL}", where))
    problems = _problems(directory, {"UPSTREAM_URL": "file:///run/secrets/sk-live-abc123"})
    line = _line_of(directory, "base_url")
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"providers.yaml:{line}:"), problems
    assert "sk-live" not in problems[0] and "file:" not in problems[0]
    assert _problems(directory, {"UPSTREAM_URL": "http://10.1.2.3:8080/v1"}) == []


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:11434/v1",
        "http://127.0.0.1:8000",
        "http://10.0.0.7/v1",
        "http://169.254.169.254/latest",
        "http://[fe80::1%25eth0]:8080/v1",
        "HTTPS://API.EXAMPLE.COM/v1",
    ],
)
def test_private_and_link_local_upstreams_are_allowed(tmp_path: Path, url: str) -> None:
    directory = write_config(tmp_path / "cfg", _providers(url))
    assert _problems(directory) == []


def test_patchbay_check_names_the_line(tmp_path: Path) -> None:
    directory = write_config(tmp_path / "cfg", _providers("gopher://example.com/"))
    done = subprocess.run(
        [sys.executable, "-m", "engine", "check", "--config-dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    line = _line_of(directory, "base_url")
    assert f"providers.yaml:{line}:" in done.stdout + done.stderr
