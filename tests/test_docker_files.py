"""The Dockerfile, compose.yaml and the deployment guide, checked without a Docker daemon.

`docker build` cannot run here, so these read the files for what the image promises:
a slim Python base, a non-root user, /config as a volume and the config directory, the
state directory outside it, a health check on /health, a directory (never a file)
mount, and a guide that gives the exact commands.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.config.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
GRACE_SECONDS = Settings().graceful_timeout
GUIDE = ROOT / "docs" / "deployment.md"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in stage:
        if word == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(rest))  # type: ignore[misc]
    return env


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())  # type: ignore[no-any-return]


def test_every_stage_uses_a_slim_python_base() -> None:
    bases = [rest.split()[0] for word, rest in instructions() if word == "FROM"]
    assert bases
    for base in bases:
        assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base), base


def test_the_image_runs_as_a_non_root_user() -> None:
    users = [rest for word, rest in final_stage() if word == "USER"]
    assert users and users[-1] not in ("root", "0"), users
    assert any(word == "RUN" and "useradd" in rest for word, rest in final_stage())


def test_config_is_a_volume_and_the_state_lives_outside_it() -> None:
    stage = final_stage()
    env = env_of(stage)
    assert env["PATCHBAY_CONFIG_DIR"] == "/config"
    assert env["PATCHBAY_STATE_DIR"].startswith("/") and not env["PATCHBAY_STATE_DIR"].startswith(
        "/config"
    )
    assert env["PATCHBAY_HOST"] == "0.0.0.0", "the shipped server.yaml listens on loopback only"
    volumes = [rest for word, rest in stage if word == "VOLUME"]
    assert any("/config" in v for v in volumes)
    copies = " ".join(rest for word, rest in stage if word == "COPY")
    for shipped in ("routes.yaml", "providers.yaml", "config/server.yaml"):
        assert shipped in copies, f"the shipped {shipped} is the image's default config"
    assert "EXPOSE" in dict(stage) and env["PATCHBAY_PORT"] == dict(stage)["EXPOSE"]


def test_healthcheck_asks_health_and_the_command_serves() -> None:
    stage = dict(final_stage())
    assert "CMD" in stage["HEALTHCHECK"]
    assert '["python", "-m", "engine.serving.probe"]' in stage["HEALTHCHECK"]
    assert stage["CMD"] == '["patchbay", "serve"]', "exec form: Patchbay is PID 1 and gets SIGTERM"
    routes = yaml.safe_load((ROOT / "routes.yaml").read_text())["routes"]
    assert {"path": "/health", "handler": "health.live"} in routes


def test_dockerignore_keeps_the_build_inputs() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in (
        "engine",
        "templates",
        "pyproject.toml",
        "README.md",
        "routes.yaml",
        "providers.yaml",
        "config",
    ):
        assert needed not in ignored, needed
    for unwanted in (".git", ".patchbay", "test-artifacts", ".venv", "venv", ".hypothesis"):
        assert unwanted in ignored, unwanted
    copied = [
        rest.split()[0] for word, rest in instructions() if word == "COPY" and "--from" not in rest
    ]
    for source in copied:
        assert (ROOT / source).exists(), source


def test_compose_mounts_the_config_directory_read_only() -> None:
    service = compose()["services"]["patchbay"]
    mounts = [v for v in service["volumes"] if isinstance(v, dict) and v.get("target") == "/config"]
    assert len(mounts) == 1
    mount = mounts[0]
    assert mount["type"] == "bind" and mount["read_only"] is True
    source = ROOT / mount["source"]
    assert source.is_dir(), "a directory: single-file mounts go stale on atomic saves"
    for volume in service["volumes"]:
        target = volume["target"] if isinstance(volume, dict) else volume.split(":")[1]
        assert not target.endswith((".yaml", ".yml")), f"single-file mount {volume}"
    assert service["build"] == "."
    assert "8000:8000" in service["ports"]


def test_compose_has_optional_redis_and_passes_every_key_through() -> None:
    services = compose()["services"]
    assert services["redis"]["profiles"] == ["redis"]
    assert services["redis"]["image"].startswith("redis:")
    assert services["patchbay"]["depends_on"]["redis"]["required"] is False
    passed = set(services["patchbay"]["environment"])
    assert "PATCHBAY_WATCH_POLLING" in passed and "PATCHBAY_REDIS_URL" in passed
    assert "PATCHBAY_SERVER" in passed, "the server is chosen by one variable"
    for name in shipped_env_refs():
        assert name in passed, f"compose.yaml does not pass {name} through"
    grace = int(services["patchbay"]["stop_grace_period"].rstrip("s"))
    assert grace > GRACE_SECONDS


def shipped_env_refs() -> set[str]:
    """Every ${VAR} the shipped config refers to."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            names.update(re.findall(r"\$\{(\w+)\}", node))

    for name in ("routes.yaml", "providers.yaml", "config/server.yaml"):
        walk(yaml.safe_load((ROOT / name).read_text()))
    return names


def guide_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), re.S)


def test_guide_states_the_exact_commands() -> None:
    commands = "\n".join(guide_blocks("bash"))
    for command in (
        "docker build -t patchbay .",
        'docker run --rm -p 8000:8000 \\\n  -v "$PWD":/config:ro',
        "docker compose up --build -d",
        "PATCHBAY_REDIS_URL=redis://redis:6379/0 docker compose --profile redis up --build -d",
        "PATCHBAY_WATCH_POLLING=true docker compose up --build -d",
        "patchbay serve --poll",
        "kubectl create configmap patchbay-config",
        "--from-file=server.yaml=config/server.yaml",
        "kubectl apply -f -",
    ):
        assert command in commands, command
    text = GUIDE.read_text()
    for point in ("subPath", "Docker Desktop", "polling", "readinessProbe", "SIGTERM"):
        assert point in text, point


def test_guide_kubernetes_manifest_mounts_a_directory_with_probes() -> None:
    documents = [d for block in guide_blocks("yaml") for d in yaml.safe_load_all(block)]
    deployment = next(d for d in documents if isinstance(d, dict) and d.get("kind") == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    config_volume = next(v for v in pod["volumes"] if "configMap" in v)
    mount = next(m for m in container["volumeMounts"] if m["name"] == config_volume["name"])
    assert mount["mountPath"] == "/config" and mount["readOnly"] is True
    assert all("subPath" not in m for m in container["volumeMounts"]), "never subPath"
    paths = {item["path"] for item in config_volume["configMap"]["items"]}
    assert paths == {"routes.yaml", "providers.yaml", "config/server.yaml"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert pod["terminationGracePeriodSeconds"] > GRACE_SECONDS + 5
    assert pod["securityContext"]["runAsNonRoot"] is True
    state = next(m for m in container["volumeMounts"] if m["mountPath"] == "/var/lib/patchbay")
    assert state["name"] in {v["name"] for v in pod["volumes"]}


@pytest.mark.timeout(180)
def test_the_wheel_the_image_installs_carries_the_templates(tmp_path: Path) -> None:
    """The image installs a built wheel, not the source tree: the pages must be in it.

    Built as `pip install .` builds it, with the build backend pyproject.toml asks for.
    """
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        (source / name).write_bytes((ROOT / name).read_bytes())
    for name in ("engine", "templates"):
        subprocess.run(["cp", "-r", str(ROOT / name), str(source / name)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        check=True,
        timeout=150,
    )
    wheel = next((tmp_path / "dist").glob("patchbay-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "engine/templates/index.html" in names
    assert "engine/templates/static/landing.js" in names
    assert "engine/config/schemas/routes.schema.json" in names
    for init in ROOT.glob("engine/**/__init__.py"):
        packaged = init.relative_to(ROOT).as_posix()
        assert packaged in names, f"{packaged} is missing from the wheel"
