"""The command line the relays under comparison share (passthrough.py, bare_relay.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import uvloop
from hypercorn.asyncio import serve
from hypercorn.config import Config


def serve_relay(
    build: Callable[[str], Any], description: str, default_port: int, *, banner: bool = True
) -> None:
    """Read --host, --port and --upstream, then serve `build(upstream)` with Hypercorn on
    uvloop, with no access log; `banner=False` drops Hypercorn's `server` header."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--upstream", default="http://127.0.0.1:9000/v1")
    args = parser.parse_args()
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    config.accesslog = None
    config.loglevel = "WARNING"
    config.include_server_header = banner
    uvloop.run(serve(build(args.upstream), config))
