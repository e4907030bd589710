"""`python -m engine.serving.probe`: the container's health check.

Asks GET {base_url}/health of the server on this machine, with host, port and
base_url resolved as `patchbay serve` resolves them (command line aside): a
PATCHBAY_* variable, else config/server.yaml in PATCHBAY_CONFIG_DIR, else the default.
Exit status 0 when it answers 200, else 1 with one line saying what happened.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from engine.config.server_file import server_file_values
from engine.config.settings import SettingError, resolve_settings

TIMEOUT = 2.0
# A server listening on every address is asked on loopback.
LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def health_url(environ: Mapping[str, str]) -> str:
    directory = Path(environ.get("PATCHBAY_CONFIG_DIR", "."))
    file_values = server_file_values(directory)
    listener = {k: v for k, v in file_values.items() if k in ("host", "port", "base_url")}
    settings = resolve_settings(listener, environ, {})
    host = LOOPBACK.get(settings.host, settings.host)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}{settings.base_url}/health"


def main(environ: Mapping[str, str]) -> int:
    try:
        url = health_url(environ)
    except SettingError as exc:
        print(f"patchbay probe: {exc}", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
            status = int(resp.status)
    except urllib.error.HTTPError as err:
        status = err.code
    except OSError as exc:
        print(f"patchbay probe: {url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"patchbay probe: {url} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(os.environ))
