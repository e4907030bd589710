"""Error templates are bounded: what would cost minutes or gigabytes is refused at compile
time, with the routes.yaml line of the template, and a render stays small."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import ConfigInvalid, read_sources
from engine.handlers import WIRE_FORMATS
from engine.live.reload import build_snapshot
from engine.snapshot.sandbox import MAX_OUTPUT
from engine.snapshot.templates import compile_message
from tests.harness import write_config

PROVIDERS = {"defaults": {"provider": "echo"}, "providers": {"echo": {"kind": "echo"}}}
PROVIDERS["providers"]["echo"]["models"] = ["echo-1"]


def _config(tmp_path: Path, message: str) -> Path:
    routes = {
        "routes": [{"path": "/v1/models", "handler": "models.list"}],
        "errors": {
            "not_found": {"status": 404, "type": "invalid_request_error", "message": "plain"},
            "model_not_found": {
                "status": 404,
                "type": "invalid_request_error",
                "message": message,
            },
        },
    }
    return write_config(tmp_path / "cfg", PROVIDERS, routes)


def _message_line(directory: Path) -> int:
    lines = (directory / "routes.yaml").read_text().splitlines()
    after = next(i for i, line in enumerate(lines) if "model_not_found" in line)
    return next(i for i, line in enumerate(lines[after:], after + 1) if "message:" in line)


def _problems(directory: Path) -> list[str]:
    try:
        build_snapshot(read_sources(directory), WIRE_FORMATS, {}, {})
    except ConfigInvalid as invalid:
        return [str(problem) for problem in invalid.problems]
    return []


@pytest.mark.parametrize(
    "message",
    [
        "{{ 7 ** 12000000 }}",
        "{{ 2 ** 4097 }}",
        "{% for i in range(100000) %}x{% endfor %}",
        "{{ 'x' * 1000000000 }}",
        "{{ ['x'] * 1000000000 }}",
        "{{ '%999999999d' % 1 }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ 'x' | center(1000000000) }}",
        "{{ lipsum(100000) }}",
        "{% for i in range(99) %}{% for j in range(99) %}x{% endfor %}{% endfor %}",
        "{% macro m(n) %}{{ m(n) }}{{ m(n) }}{% endmacro %}{{ m(1) }}",
        "{% for i in [1] recursive %}{{ loop([1]) }}{% endfor %}",
    ],
)
def test_a_costly_template_is_refused_at_its_routes_yaml_line(tmp_path: Path, message: str) -> None:
    directory = _config(tmp_path, message)
    problems = _problems(directory)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"routes.yaml:{_message_line(directory)}:"), problems
    assert "error template" in problems[0]


def test_patchbay_check_names_the_template_line(tmp_path: Path) -> None:
    directory = _config(tmp_path, "{{ 7 ** 12000000 }}")
    done = subprocess.run(
        [sys.executable, "-m", "engine", "check", "--config-dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"routes.yaml:{_message_line(directory)}:" in done.stdout + done.stderr


def test_what_error_messages_need_still_works() -> None:
    render = compile_message(
        "{{ model }} {{ 10 ** 3 }} {{ 'ab' * 3 }} {{ range(3) | join('-') }} "
        "{% for s in suggestions %}[{{ s | upper }}]{% endfor %} {{ 7 % 4 }}"
    )
    text = render({"model": "m", "suggestions": ["a", "b"], "message": "fallback"})
    assert text == "m 1000 ababab 0-1-2 [A][B] 3"


def test_a_render_that_outgrows_its_bound_gives_the_errors_own_message() -> None:
    render = compile_message("{% for s in suggestions %}{{ s }}{% endfor %}")
    many = ["x" * 1000] * (MAX_OUTPUT // 1000 + 2)
    assert render({"suggestions": many, "message": "the plain message"}) == "the plain message"
