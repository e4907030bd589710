"""Instructions per request, counted by valgrind: python bench/instructions.py [-n N]

req/s and CPU time move with whatever else the machine does; the number of
instructions a server executes per request hardly does (repeat runs agree to about
0.5% for non-stream requests and 2% for streams, whose reads depend on how the
upstream's writes arrive). This starts the fake upstream, then Patchbay (as in run.py), the Quart
passthrough and the bare relay (`bare_relay.py`), each under
`valgrind --tool=callgrind` with counting off; sends warm-up requests, switches
counting on, sends N requests one after another on one keep-alive connection,
and prints the instructions per request of each, non-stream and stream, with the
ratio passthrough / Patchbay (above 1: Patchbay does less work).

Needs valgrind (`apt-get install -y valgrind`), which runs the servers about 50
times slower: a run takes a minute or two. Counts leave out the kernel (socket
calls) and memory stalls, so they rank changes to Python code, not wall time.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from gateway import Target, start_passthrough, start_patchbay, start_upstream
from rig import LOAD_CORE, SERVER_CORE, Rig, RigError, pinning_available
from verify import chat_body

REPO = Path(__file__).resolve().parent.parent
MODEL = "bench/bench-model"
WARMUP = 100


def _callgrind(out: Path) -> list[str]:
    return [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}.%p",
    ]


def _send(target: Target, model: str, stream: bool, count: int) -> None:
    """`count` requests, one after another on one keep-alive connection, each checked."""
    body = chat_body(model, stream)
    connection = http.client.HTTPConnection("127.0.0.1", target.server.port, timeout=120)
    try:
        for _ in range(count):
            connection.request("POST", target.path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200 or (stream and not answer.rstrip().endswith(b"[DONE]")):
                raise RigError(f"{target.server.name} answered {response.status}: {answer[:200]!r}")
    finally:
        connection.close()


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def count(target: Target, model: str, stream: bool, requests: int, out: Path) -> int:
    """Instructions the target's process executed per request, counting only the load."""
    pid = target.server.pid
    _send(target, model, stream, WARMUP)
    _control(pid, "--zero")
    _control(pid, "--instr=on")
    _send(target, model, stream, requests)
    _control(pid, "--dump")
    _control(pid, "--instr=off")
    dumps = sorted(out.parent.glob(f"{out.name}.{pid}.*"), key=lambda p: p.stat().st_mtime)
    if not dumps:
        raise RigError(f"callgrind wrote no dump for {target.server.name}")
    for line in dumps[-1].read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1]) // requests
    raise RigError(f"no totals in {dumps[-1]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--requests", type=int, default=300, help="counted requests each")
    parser.add_argument(
        "--server", default="hypercorn", help="the server Patchbay runs on (default: hypercorn)"
    )
    args = parser.parse_args()
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: apt-get install -y valgrind", file=sys.stderr)
            return 2
    server_core, load_core = (SERVER_CORE, LOAD_CORE) if pinning_available() else (None, None)
    with tempfile.TemporaryDirectory(prefix="patchbay-instructions-") as scratch:
        rig = Rig(Path(scratch))
        out = Path(scratch) / "callgrind"
        try:
            upstream = start_upstream(rig, load_core)
            starters: dict[str, Callable[[], Target]] = {
                "patchbay": lambda: start_patchbay(
                    rig,
                    REPO,
                    upstream,
                    core=server_core,
                    request_logging=True,
                    launcher=_callgrind(out),
                    server=args.server,
                )[0],
                "passthrough": lambda: start_passthrough(
                    rig, upstream, server_core, launcher=_callgrind(out)
                )[0],
                "bare relay": lambda: start_passthrough(
                    rig, upstream, server_core, script="bare_relay.py", launcher=_callgrind(out)
                )[0],
            }
            counts: dict[tuple[str, bool], int] = {}
            for name, start in starters.items():
                target = start()
                model = MODEL if name == "patchbay" else "bench"
                for stream in (False, True):
                    counts[name, stream] = count(target, model, stream, args.requests, out)
                    print(
                        f"  {name:12s} {'stream' if stream else 'chat':6s} "
                        f"{counts[name, stream]:>11,} instructions/request",
                        flush=True,
                    )
                rig.stop(target.server)
        except RigError as err:
            print(f"the rig failed: {err}", file=sys.stderr)
            return 2
        finally:
            rig.stop_all()
    print()
    print(
        f"{'instructions/request':22s}| {'patchbay':>11s} | {'passthrough':>11s} | "
        f"{'bare relay':>11s} | pass/patchbay"
    )
    print("-" * 80)
    for stream in (False, True):
        row = [counts[name, stream] for name in ("patchbay", "passthrough", "bare relay")]
        label = "stream" if stream else "chat (non-stream)"
        print(
            f"{label:22s}| {row[0]:>11,} | {row[1]:>11,} | {row[2]:>11,} | {row[1] / row[0]:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
