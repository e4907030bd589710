"""Time from a config file write to the change being visible over HTTP.

    python bench/reload.py                 # 50 toggles watching (inotify), 50 polling
    python bench/reload.py --toggles 200 --modes inotify

Patchbay runs as `python -m engine serve` on a temporary config directory. Each
toggle rewrites providers.yaml by atomic rename (write a temporary file, rename it
over), switching the provider `spare` off or on; GET /v1/models is then asked over one
keep-alive connection, every PROBE_GAP seconds, until its answer agrees. The time from
the rename to that answer is one sample. Prints p50, p95 and max per mode; exits 1 when
the inotify p95 misses TARGET_P95_MS, 2 when the rig fails.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rig import Rig, RigError, Server, free_port, wait_until_serving

TARGET_P95_MS = 250.0
PROBE_GAP = 0.002  # seconds between probes: a ~2 ms resolution without hogging a core
SETTLE = (0.02, 0.2)  # seconds of random pause between toggles, so they fall anywhere
GIVE_UP = 10.0  # seconds a single toggle may take before the run is declared failed
SPARE = "spare/spare-1"
ROUTES = {"routes": [{"path": "/v1/models", "handler": "models.list"}]}


def providers(spare: bool) -> str:
    data = {
        "defaults": {"provider": "echo"},
        "providers": {
            "echo": {"kind": "echo", "models": ["echo-1"]},
            "spare": {"kind": "echo", "models": ["spare-1"], "enabled": spare},
        },
    }
    return yaml.safe_dump(data, sort_keys=False)


def write_atomically(path: Path, text: str) -> None:
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(text)
    os.replace(staging, path)


def spare_listed(connection: http.client.HTTPConnection) -> bool:
    connection.request("GET", "/v1/models")
    response = connection.getresponse()
    ids = [model["id"] for model in json.loads(response.read())["data"]]
    return SPARE in ids


def measure(server: Server, providers_file: Path, toggles: int) -> list[float]:
    """Milliseconds from each rename to the first answer that reflects it."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    samples = []
    state = spare_listed(connection)
    for _ in range(toggles):
        time.sleep(random.uniform(*SETTLE))
        state = not state
        write_atomically(providers_file, providers(state))
        written = time.perf_counter()
        while spare_listed(connection) != state:
            if time.perf_counter() - written > GIVE_UP:
                raise RigError(f"a toggle took over {GIVE_UP:g} s:\n{server.log_tail()}")
            time.sleep(PROBE_GAP)
        samples.append((time.perf_counter() - written) * 1000)
    connection.close()
    return samples


def run_mode(rig: Rig, workdir: Path, mode: str, toggles: int) -> list[float]:
    directory = workdir / mode
    (directory / "config").mkdir(parents=True)
    (directory / "routes.yaml").write_text(yaml.safe_dump(ROUTES))
    (directory / "providers.yaml").write_text(providers(True))
    (directory / "config" / "server.yaml").write_text("request_logging: false\n")
    port = free_port()
    command = [sys.executable, "-m", "engine", "serve", "--config-dir", str(directory)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if mode == "polling":
        command.append("--poll")
    server = rig.start(f"patchbay-{mode}", command, port, core=None, cwd=workdir)
    try:
        wait_until_serving(server, "GET", "/v1/models")
        return measure(server, directory / "providers.yaml", toggles)
    finally:
        rig.stop(server)


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--toggles", type=int, default=50)
    parser.add_argument("--modes", nargs="+", default=["inotify", "polling"])
    args = parser.parse_args()
    rig = Rig(Path(tempfile.mkdtemp(prefix="patchbay-reload-bench-")))
    results: dict[str, list[float]] = {}
    try:
        for mode in args.modes:
            results[mode] = run_mode(rig, rig.workdir, mode, args.toggles)
    except RigError as exc:
        print(f"reload bench: {exc}", file=sys.stderr)
        return 2
    finally:
        rig.stop_all()
    print(f"{'mode':<10}{'toggles':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for mode, samples in results.items():
        p50, p95 = percentile(samples, 50), percentile(samples, 95)
        print(f"{mode:<10}{len(samples):>8}{p50:>9.1f}{p95:>9.1f}{max(samples):>9.1f}")
    if "inotify" not in results:
        return 0
    p95 = percentile(results["inotify"], 95)
    verdict = "met" if p95 < TARGET_P95_MS else "MISSED"
    print(f"target: inotify p95 under {TARGET_P95_MS:g} ms: {verdict}")
    return 0 if p95 < TARGET_P95_MS else 1


if __name__ == "__main__":
    sys.exit(main())
