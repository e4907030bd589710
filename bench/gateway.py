"""The three targets of the benchmark and the upstream behind them, started on the rig.

(a) the fake upstream itself, (b) Patchbay on the shipped config plus a `bench`
provider pointing at the fake upstream, (c) the bare Quart passthrough.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from rig import Rig, RigError, Server, free_port, wait_until_serving
from verify import chat_body

HERE = Path(__file__).resolve().parent
CHAT_PATH = "/v1/chat/completions"
SHIPPED_FILES = ("routes.yaml", "providers.yaml", "config/server.yaml")
# Patchbay resolves the key like any provider secret; it never reaches the client.
KEY_VARIABLE = "PATCHBAY_BENCH_UPSTREAM_KEY"
# Random-looking, as real keys are: a key made of words would have the access log's
# words masked as fragments of it, which no real deployment pays for.
UPSTREAM_KEY = "sk-7Qm2Xr9LpT4wZ8vNc3Kd"
WORKERS_SETTLE = 3.0  # seconds


MESSAGES_PATH = "/v1/messages"
CACHED_ALIAS = "bench-cached"


@dataclass(frozen=True)
class Target:
    """A server under load and the path wrk posts the chat request to (or, for `wire`
    "messages", the same ask as an Anthropic Messages request)."""

    server: Server
    path: str
    wire: str = "chat"

    @property
    def url(self) -> str:
        return self.server.url(self.path)


def _python(script: str, *args: str, launcher: Sequence[str] = ()) -> list[str]:
    return [*launcher, sys.executable, str(HERE / script), *args]


def _start_fake_upstream(rig: Rig, name: str, core: int | None) -> Server:
    port = free_port()
    server = rig.start(name, _python("upstream.py", "--port", str(port)), port, core=core)
    wait_until_serving(server, "GET", "/v1/models")
    return server


def start_upstream(rig: Rig, core: int | None) -> str:
    """The upstream behind (b) and (c), on the load core; returns its base URL."""
    server = _start_fake_upstream(rig, "upstream", core)
    return server.url("/v1")


def start_direct(rig: Rig, core: int | None) -> Target:
    """A second fake upstream on the server core, measured directly as (a)."""
    return Target(_start_fake_upstream(rig, "direct", core), CHAT_PATH)


def start_passthrough(
    rig: Rig,
    upstream: str,
    core: int | None,
    *,
    script: str = "passthrough.py",
    launcher: Sequence[str] = (),
) -> tuple[Target, float]:
    """The bare Quart passthrough (or `script`, another one with the same options, run
    under `launcher`); returns it and its seconds to the first 200."""
    port = free_port()
    command = _python(script, "--port", str(port), "--upstream", upstream, launcher=launcher)
    server = rig.start(Path(script).stem, command, port, core=core)
    seconds = wait_until_serving(server, "POST", CHAT_PATH, chat_body("bench", stream=False))
    return Target(server, CHAT_PATH), seconds


def write_config(repo: Path, into: Path, upstream: str) -> str:
    """Copy the shipped config into `into`, add the `bench` provider; return base_url."""
    for name in SHIPPED_FILES:
        source = repo / name
        if not source.exists():
            raise RigError(f"Patchbay's shipped {name} is missing from {repo}")
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, into / name)
    providers = yaml.safe_load((repo / "providers.yaml").read_text()) or {}
    # Priced, so that every answer's cost is settled as in production.
    price = {"input_per_mtok": 0.15, "output_per_mtok": 0.60}
    providers.setdefault("providers", {})["bench"] = {
        "kind": "openai",
        "base_url": upstream,
        "api_key": "${" + KEY_VARIABLE + "}",
        "models": [{"id": "bench-model", "price": price}],
    }
    # The cache-hit scenario's model: the same upstream model behind the response cache.
    providers.setdefault("aliases", {})[CACHED_ALIAS] = {
        "targets": [{"model": "bench/bench-model"}],
        "cache": {"ttl": 3600, "shared": True},
    }
    (into / "providers.yaml").write_text(yaml.safe_dump(providers, sort_keys=False))
    server = yaml.safe_load((repo / "config/server.yaml").read_text()) or {}
    return str(server.get("base_url") or "").rstrip("/")


def start_patchbay(
    rig: Rig,
    repo: Path,
    upstream: str,
    *,
    core: int | None,
    request_logging: bool,
    launcher: Sequence[str] = (),
    server: str = "hypercorn",
    workers: int = 1,
    name: str = "patchbay",
) -> tuple[Target, float]:
    """Patchbay on `server` with `workers` workers (`core` pins all of them); returns it
    and its seconds from spawn to the first 200."""
    config_dir = rig.workdir / f"{name}-config"
    base_url = write_config(repo, config_dir, upstream)
    port = free_port()
    command = [
        *launcher, sys.executable, "-m", "engine", "serve",
        "--config-dir", str(config_dir),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", str(workers),
        "--server", server,
        # With request logging, access lines are written (to the rig's log file), as a
        # user who keeps the shipped `request_logging: true` gets them.
        "--log-level", "info" if request_logging else "warning",
        "--no-watch",
    ]  # fmt: skip
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")])),
        KEY_VARIABLE: UPSTREAM_KEY,
    }
    if not request_logging:
        env["PATCHBAY_REQUEST_LOGGING"] = "false"
    # Patchbay keeps its state directory next to where it runs: not in the repository.
    process = rig.start(name, command, port, core=core, cwd=config_dir, env=env)
    seconds = wait_until_serving(process, "GET", f"{base_url}/v1/models")
    if workers > 1:
        time.sleep(WORKERS_SETTLE)  # the first worker answered; let the others finish starting
    return Target(process, f"{base_url}{CHAT_PATH}"), seconds


def messages_target(patchbay: Target) -> Target:
    """The same Patchbay, asked through Anthropic's Messages API (translated to chat for
    the `bench` provider, an `openai` kind)."""
    base_url = patchbay.path.removesuffix(CHAT_PATH)
    return Target(patchbay.server, base_url + MESSAGES_PATH, wire="messages")
