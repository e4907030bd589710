"""The README's Quick start, as CI tries it (standard library only: runs before any install).

quick_start.py setup|test      print the set-up or the test command, as written
quick_start.py try BASE_URL    wait for BASE_URL/health, then send one chat request
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
WAIT_SECONDS = 900  # the set-up command installs the package before it serves


def commands() -> dict[str, str]:
    """The Quick start's first two bash blocks: the set-up command, then the test command."""
    text = README.read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    setup, test = (block.strip() for block in BLOCK.findall(section)[:2])
    return {"setup": setup, "test": test}


def try_server(base: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=5):
                break
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise SystemExit(f"quick_start: nothing answered at {base}/health") from None
            time.sleep(0.5)
    body = {"model": "auto", "messages": [{"role": "user", "content": "hello from CI"}]}
    request = urllib.request.Request(
        base + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        answer = json.loads(reply.read())
    said = answer["choices"][0]["message"]["content"]
    if said != "hello from CI":
        raise SystemExit(f"quick_start: unexpected answer {said!r}")
    print(f"quick_start: {base} answered {said!r}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["try"]:
        try_server(sys.argv[2])
    else:
        print(commands()[sys.argv[1]])
