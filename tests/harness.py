"""Serve a config directory on a real loopback port, in a thread, for synchronous clients."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from hypercorn.asyncio import serve

from engine import create_app
from engine.serving.hypercorn_server import hypercorn_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gateway(
    config_dir: Path, environ: dict[str, str] | None = None, **overrides: Any
) -> Iterator[str]:
    """Yield the base URL (http://127.0.0.1:PORT) of Patchbay serving `config_dir`, pages included."""
    app = create_app(config_dir, environ=environ, **overrides)
    port = free_port()
    config = hypercorn_config(app.config["PATCHBAY_RUNTIME"].snapshot.settings)  # as served
    config.bind = [f"127.0.0.1:{port}"]
    config.graceful_timeout = 2
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ready = threading.Event()

    async def run() -> None:
        async def trigger() -> None:
            ready.set()
            await stop.wait()

        # What engine.asgi hands Hypercorn: the front door, the Quart app behind it.
        await serve(app.asgi_app, config, shutdown_trigger=trigger)

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    ready.wait(10)
    _wait_listening(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
        loop.close()


def _wait_listening(port: int) -> None:
    for _ in range(200):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        threading.Event().wait(0.02)
    raise TimeoutError(f"nothing listens on {port}")


def write_config(
    directory: Path,
    providers: dict[str, Any],
    routes: dict[str, Any] | None = None,
    server: dict[str, Any] | None = None,
) -> Path:
    """Write a config directory; routes default to the repository's shipped routes.yaml."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "providers.yaml").write_text(yaml.safe_dump(providers, sort_keys=False))
    if routes is None:
        shipped = Path(__file__).resolve().parent.parent / "routes.yaml"
        (directory / "routes.yaml").write_text(shipped.read_text())
    else:
        (directory / "routes.yaml").write_text(yaml.safe_dump(routes, sort_keys=False))
    (directory / "config").mkdir(exist_ok=True)
    server = {"request_logging": False, **(server or {})}
    (directory / "config" / "server.yaml").write_text(yaml.safe_dump(server, sort_keys=False))
    return directory
