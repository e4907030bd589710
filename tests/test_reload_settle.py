"""An edit applies once the files stop changing: half a file written in place is not a config.

Editors such as nano write in place: truncate, then write, and a slow or large write
comes in parts. The first part is often valid YAML on its own (here: providers.yaml
without its last provider); applied, it would switch that provider off until the rest
arrives. Under traffic for that provider, such writes must cause no 404.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.harness import gateway
from tests.reload_helpers import (
    ADMIN_ENV,
    ADMIN_KEY,
    ROUTES,
    Writer,
    admin_config,
    chat,
    dump,
    server,
    wait_for,
)

EDITS = 15
HALF_GAP = 0.03  # seconds between the two halves of one write


def _providers(edit: int) -> tuple[str, str]:
    """providers.yaml at one edit, cut where the first part still parses (spare missing)."""
    head = (
        "defaults: {provider: echo, timeout: 5, retries: 0}\n"
        "providers:\n"
        f"  echo: {{kind: echo, models: [echo-1]}}  # edit {edit}\n"
    )
    tail = "  spare: {kind: echo, models: [spare-1]}\n"
    return head, tail


def _write_in_two_halves(path: Path, edit: int) -> None:
    head, tail = _providers(edit)
    with open(path, "w") as handle:  # truncates: the same inode, as nano and `>` do
        handle.write(head)
        handle.flush()
        time.sleep(HALF_GAP)
        handle.write(tail)


class SpareTraffic:
    """A thread asking for spare/spare-1 until stopped, keeping every status it got."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.statuses: list[int] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.statuses.append(chat(self.base, "spare/spare-1")[0])

    def __enter__(self) -> SpareTraffic:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join(15)


def test_a_file_written_in_place_in_two_halves_is_applied_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ADMIN_ENV, ADMIN_KEY)
    directory = tmp_path / "cfg"
    head, tail = _providers(0)
    files = {
        "routes.yaml": dump(ROUTES),
        "providers.yaml": head + tail,
        "config/server.yaml": dump({"request_logging": False, **server()}),
    }
    Writer().setup(directory, files)
    with gateway(directory) as base, SpareTraffic(base) as traffic:
        for edit in range(1, EDITS + 1):
            before = admin_config(base)["reloads"]["applied"]
            _write_in_two_halves(directory / "providers.yaml", edit)
            wait_for(
                lambda before=before: admin_config(base)["reloads"]["applied"] > before,
                f"edit {edit} applied",
            )
            assert "# edit" in (directory / "providers.yaml").read_text()
    served = traffic.statuses
    assert served, "no request was made"
    assert set(served) == {200}, {status: served.count(status) for status in set(served)}
