"""Helpers for the page tests: fetching, waiting, editing the config as editors do."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

SHIPPED = Path(__file__).resolve().parent.parent


def fetch(url: str, method: str = "GET", body: Any = None) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-case headers, body) of one request; HTTP errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as reply:
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def fetch_json(url: str) -> Any:
    status, _, body = fetch(url)
    assert status == 200, (url, status, body[:300])
    return json.loads(body)


def wait_for(condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll `condition` until it holds; the config watcher needs a moment after an edit."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def edit_yaml(path: Path, change: Callable[[Any], None]) -> None:
    """Load, change in place, and save atomically (write aside, then rename), like editors do."""
    data = yaml.safe_load(path.read_text())
    change(data)
    aside = path.with_name(f".{path.name}.tmp")
    aside.write_text(yaml.safe_dump(data, sort_keys=False))
    aside.replace(path)


def echo_providers(**extra: Any) -> dict[str, Any]:
    """providers.yaml for page tests: echo, a second echo to switch off, a keyless openai."""
    return {
        "defaults": {"provider": "echo"},
        "providers": {
            "echo": {
                "kind": "echo",
                "models": ["echo-1", {"id": "echo-embed", "type": "embedding"}],
            },
            "parrot": {"kind": "echo", "models": ["parrot-1", "parrot-2"]},
            "keyed": {
                "kind": "openai",
                "base_url": "http://127.0.0.1:9/v1",
                "api_key": "${PATCHBAY_TEST_UNSET_KEY}",
                "models": ["never-1"],
            },
        },
        "aliases": {"quick": ["parrot/parrot-1", "echo/echo-1"]},
        **extra,
    }
