"""`patchbay serve` around the servers: start-up errors in one line, the choice of server,
the supervisor's back-off, the container health check and the precedence it shows."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config.settings import SERVERS
from engine.serving.servers import SERVER_KINDS
from engine.serving.supervisor import LONGEST_PAUSE, STABLE_SECONDS, BackOff
from tests.harness import free_port, write_config
from tests.reload_helpers import wait_for
from tests.served import health, served, stop

ROOT = Path(__file__).resolve().parent.parent
ECHO = {"providers": {"echo": {"kind": "echo", "models": ["echo-1"]}}}


def patchbay(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_a_busy_port_is_one_line_naming_the_address(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", ECHO)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        for workers in ("1", "2"):
            result = patchbay(
                "serve", "--config-dir", str(config), "--host", "127.0.0.1",
                "--port", str(port), "--workers", workers,
            )  # fmt: skip
            assert result.returncode == 1
            (line,) = result.stderr.strip().splitlines()
            assert f"127.0.0.1:{port}" in line and "already in use" in line and "--port" in line


def test_a_missing_config_directory_or_providers_yaml_says_which_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = patchbay("serve", "--config-dir", str(missing), "--port", "1")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert str(missing) in line and "--config-dir" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    result = patchbay("serve", "--config-dir", str(empty), "--port", "1")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert f"no providers.yaml in {empty}" in line and "--config-dir" in line


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_a_server_that_is_not_installed_names_its_extra(tmp_path: Path, server: str) -> None:
    config = write_config(tmp_path / "cfg", ECHO)
    # As if the package were absent: Python's import system then finds no module.
    program = (
        f"import sys; sys.modules[{server!r}] = None; from engine.cli import main; "
        f"raise SystemExit(main(['serve', '--config-dir', {str(config)!r}, '--server', {server!r}]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"patchbay: server {server!r} is not installed: pip install 'patchbay[{server}]'"
    )


def test_the_server_is_a_setting_in_every_source(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", ECHO, server={"server": "granian"})
    assert patchbay("check", "--config-dir", str(config)).returncode == 0
    result = patchbay("check", "--config-dir", str(config), env={"PATCHBAY_SERVER": "gunicorn"})
    assert result.returncode == 2 and "server: must be one of" in result.stderr
    (config / "config" / "server.yaml").write_text("server: tornado\n")
    result = patchbay("check", "--config-dir", str(config))
    assert result.returncode == 1 and "config/server.yaml:1:" in result.stderr
    result = patchbay("serve", "--config-dir", str(config), "--server", "daphne")
    assert result.returncode == 2 and "invalid choice: 'daphne'" in result.stderr


def test_check_warns_of_what_the_chosen_server_lacks(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", ECHO)
    for server in SERVERS:
        result = patchbay("check", "--config-dir", str(config), env={"PATCHBAY_SERVER": server})
        assert result.returncode == 0
        warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
        assert len(warnings) == len(SERVER_KINDS[server].lacks), result.stderr
    result = patchbay("check", "--config-dir", str(config), env={"PATCHBAY_SERVER": "uvicorn"})
    assert "keep_alive_timeout applies between requests only" in result.stderr


def test_a_connection_that_sends_nothing_is_closed_unless_the_server_lacks_it(
    tmp_path: Path, server: str
) -> None:
    """What the README's server table and `patchbay check` say of keep_alive_timeout."""
    config = write_config(tmp_path / "cfg", ECHO, server={"keep_alive_timeout": 1})
    with (
        served(config, server) as running,
        socket.create_connection(("127.0.0.1", running.port), timeout=4) as sock,
    ):
        try:
            closed = sock.recv(1) == b""
        except TimeoutError:
            closed = False
    assert closed is ("keep_alive_timeout" not in SERVER_KINDS[server].lacks)


def test_back_off_grows_while_replacements_keep_dying_and_resets_after_a_stable_run() -> None:
    backoff = BackOff()
    quick = [backoff.pause_after(1.0) for _ in range(9)]
    assert quick == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, LONGEST_PAUSE, LONGEST_PAUSE]
    assert backoff.pause_after(STABLE_SECONDS + 1) == 0.0
    assert backoff.pause_after(1.0) == 0.5


def _healthcheck() -> list[str]:
    """The image's HEALTHCHECK command, as Docker runs it (exec form)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    (command,) = re.findall(r"^HEALTHCHECK .*? CMD (\[.*\])$", text, re.M)
    return list(json.loads(command))


def test_the_health_check_follows_base_url_and_port_of_a_mounted_server_yaml(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = write_config(tmp_path / "cfg", ECHO, server={"base_url": "/api", "port": port})
    image_env = {**os.environ, "PATCHBAY_CONFIG_DIR": str(config), "PATCHBAY_HOST": "0.0.0.0"}
    image_env.pop("PATCHBAY_BASE_URL", None)
    image_env.pop("PATCHBAY_PORT", None)
    check = _healthcheck()
    with served(config, "hypercorn", args=["--base-url", "/api"], prefix="/api") as running:
        assert subprocess.run(check, env=image_env, timeout=30).returncode != 0  # wrong port
        image_env["PATCHBAY_PORT"] = str(running.port)
        result = subprocess.run(check, env=image_env, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        (config / "config" / "server.yaml").write_text(f"base_url: /other\nport: {port}\n")
        result = subprocess.run(check, env=image_env, capture_output=True, text=True, timeout=30)
        assert result.returncode == 1 and "/other/health answered 404" in result.stderr


def test_a_variable_or_flag_that_overrides_server_yaml_is_logged(tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", ECHO, server={"host": "127.0.0.2", "workers": 1})
    with served(config, "hypercorn", env={"PATCHBAY_WORKERS": "1"}) as running:
        log = running.log()
    assert "--host=127.0.0.1 overrides host: '127.0.0.2' of config/server.yaml" in log
    assert "PATCHBAY_WORKERS" not in log  # the same value: nothing to say


def _own_command(server: str, port: int) -> list[str]:
    """Each server's own command line for engine.asgi:app, as the README gives it."""
    address = ["--host", "127.0.0.1", "--port", str(port)]
    return {
        "hypercorn": ["hypercorn", "engine.asgi:app", "--bind", f"127.0.0.1:{port}"],
        "uvicorn": ["uvicorn", "engine.asgi:app", *address],
        "granian": ["granian", "--interface", "asgi", *address, "engine.asgi:app"],
    }[server]


def test_each_server_also_serves_engine_asgi_app_itself(tmp_path: Path, server: str) -> None:
    config = write_config(tmp_path / "cfg", ECHO)
    port = free_port()
    command = [sys.executable, "-m", *_own_command(server, port)]
    env = {**os.environ, "PATCHBAY_CONFIG_DIR": str(config)}
    with open(tmp_path / "own.log", "wb") as log:
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=log)
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}"), "engine.asgi:app served", 30)
    finally:
        stop(process)
        print((tmp_path / "own.log").read_text())


def _answers(url: str) -> bool:
    try:
        return health(url, timeout=2) == 200
    except OSError:
        return False
