"""Helpers for the reload tests: config files, the ways tools write them, HTTP probes.

Each writer changes one file the way a person or tool does (atomic rename, in-place
rewrite, vim's backup dance, a Kubernetes ConfigMap `..data` swap, deleting and
re-creating the whole directory). Probes read the HTTP surface only, and every wait
has a deadline: a test fails, never hangs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

ADMIN_ENV = "RELOAD_TEST_ADMIN_KEY"
ADMIN_KEY = "admin-test-key-7f3a"
DEADLINE = 5.0  # seconds any single change may take to show over HTTP
SPARE = "spare/spare-1"
ROUTES = {
    "routes": [
        {"path": "/v1/chat/completions", "methods": ["POST"], "handler": "chat.completions"},
        {"path": "/v1/models", "handler": "models.list"},
        {"path": "/v1/models/{model:path}", "handler": "models.get"},
        {"path": "/ready", "handler": "health.ready"},
        {"path": "/admin/reload", "methods": ["POST"], "handler": "admin.reload"},
        {"path": "/admin/config", "handler": "admin.config"},
    ]
}


def providers(spare: bool = True, **extra: Any) -> dict[str, Any]:
    """echo (always on) and `spare`, an echo-kind provider switched by `spare`."""
    return {
        "defaults": {"provider": "echo", "timeout": 5, "retries": 0},
        "providers": {
            "echo": {"kind": "echo", "models": ["echo-1"]},
            "spare": {"kind": "echo", "models": ["spare-1"], "enabled": spare},
            **extra,
        },
    }


def server(**extra: Any) -> dict[str, Any]:
    """server.yaml with the admin key taken from ADMIN_ENV (set it with monkeypatch)."""
    return {"auth": {"admin_key": "${" + ADMIN_ENV + "}"}, **extra}


def dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def config_files(spare: bool = True, **server_extra: Any) -> dict[str, str]:
    """The three files of a config: ROUTES, `providers(spare)` and `server()`."""
    return {
        "routes.yaml": dump(ROUTES),
        "providers.yaml": dump(providers(spare)),
        "config/server.yaml": dump({"request_logging": False, **server(**server_extra)}),
    }


# --- writers -------------------------------------------------------------------------


class Writer:
    """Plain files; `write` replaces one file by atomic rename (what most tools do)."""

    name = "atomic-rename"

    def setup(self, directory: Path, files: dict[str, str]) -> None:
        for name, text in files.items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def write(self, directory: Path, name: str, text: str) -> None:
        path = directory / name
        staging = path.with_name(f".{path.name}.tmp{os.getpid()}")
        staging.write_text(text)
        os.replace(staging, path)


class InPlace(Writer):
    """Truncate and rewrite the same inode (shell redirection, many editors)."""

    name = "in-place"

    def write(self, directory: Path, name: str, text: str) -> None:
        with open(directory / name, "w") as handle:
            handle.write(text)


class VimSave(Writer):
    """vim's default save: probe file, rename the original to `file~`, write, drop backup."""

    name = "vim"

    def write(self, directory: Path, name: str, text: str) -> None:
        path = directory / name
        swap = path.with_name(f".{path.name}.swp")
        swap.write_bytes(b"b0VIM 9.0")  # vim keeps this open while editing
        probe = path.with_name("4913")  # vim checks it may create files here
        probe.write_bytes(b"")
        probe.unlink()
        backup = path.with_name(path.name + "~")
        os.rename(path, backup)
        path.write_text(text)
        backup.unlink()
        swap.unlink()


class Recreate(Writer):
    """Delete the whole directory and create it again with the change (rsync, deploys)."""

    name = "recreate-dir"

    def write(self, directory: Path, name: str, text: str) -> None:
        names = ("routes.yaml", "providers.yaml", "config/server.yaml")
        files = {n: (directory / n).read_text() for n in names if (directory / n).exists()}
        shutil.rmtree(directory)
        directory.mkdir()
        self.setup(directory, {**files, name: text})


class ConfigMap(Writer):
    """A Kubernetes ConfigMap volume: files are symlinks through `..data` to a dated dir.

    An update writes a new dated directory, points `..data_tmp` at it and renames that
    over `..data` (kubelet's AtomicWriter), then removes the old directory.
    """

    name = "configmap"

    def setup(self, directory: Path, files: dict[str, str]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._project(directory, files)
        for top in sorted({name.split("/")[0] for name in files}):
            os.symlink(f"..data/{top}", directory / top)

    def write(self, directory: Path, name: str, text: str) -> None:
        current = directory / "..data"
        files = {
            str(p.relative_to(current)): p.read_text() for p in current.rglob("*") if p.is_file()
        }
        self._project(directory, {**files, name: text})

    def _project(self, directory: Path, files: dict[str, str]) -> None:
        stamp = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.perf_counter_ns()}"
        Writer().setup(directory / stamp, files)
        old = directory / "..data"
        previous = os.readlink(old) if old.is_symlink() else None
        os.symlink(stamp, directory / "..data_tmp")
        os.replace(directory / "..data_tmp", old)
        if previous:
            shutil.rmtree(directory / previous)


WRITERS = [Writer(), InPlace(), VimSave(), ConfigMap(), Recreate()]


# --- HTTP probes ---------------------------------------------------------------------


def request(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """(status, parsed JSON body) over a fresh connection."""
    data = None if body is None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=data, headers=sent, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def admin_config(base: str) -> dict[str, Any]:
    status, body = request("GET", base + "/admin/config", headers=admin_headers())
    assert status == 200, body
    return dict(body)


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


def chat(base: str, model: str) -> tuple[int, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": "ping"}]}
    return request("POST", base + "/v1/chat/completions", body)


def listed(base: str) -> list[str]:
    status, body = request("GET", base + "/v1/models")
    assert status == 200, body
    return [m["id"] for m in body["data"]]


def serving(base: str, model: str) -> bool | None:
    """True when `model` is listed and answers, False when unlisted and 404, else None."""
    status, body = chat(base, model)
    shown = model in listed(base)
    if shown and status == 200:
        return True
    if not shown and status == 404 and body["error"]["code"] == "model_not_found":
        return False
    return None  # a reload landed between the two requests: ask again


def wait_for(condition: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Poll `condition` until it returns something truthy; fail after `deadline` seconds."""
    end = time.monotonic() + deadline
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"not within {deadline}s: {what}")
        time.sleep(0.02)


def wait_serving(base: str, model: str, expected: bool) -> None:
    wait_for(lambda: serving(base, model) is expected, f"{model} serving={expected}")


class LogRecords(logging.Handler):
    """The messages one logger emitted (Patchbay's loggers do not propagate to root)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    @classmethod
    @contextmanager
    def of(cls, name: str) -> Iterator[LogRecords]:
        records = cls()
        logging.getLogger(name).addHandler(records)
        try:
            yield records
        finally:
            logging.getLogger(name).removeHandler(records)
