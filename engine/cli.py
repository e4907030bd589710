"""`patchbay serve|check|routes|models` (also `python -m engine`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.config import ConfigInvalid, read_sources
from engine.config.settings import SERVERS, SettingError, check_given_settings
from engine.live.reload import build_snapshot
from engine.snapshot.model import Snapshot

# Flags of `serve` that are settings; each is passed to workers as its PATCHBAY_* variable.
SERVE_SETTINGS = (
    "host",
    "port",
    "workers",
    "server",
    "log_level",
    "default_provider",
    "base_url",
    "debug",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="patchbay", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    config_dir = argparse.ArgumentParser(add_help=False)
    config_dir.add_argument(
        "--config-dir",
        help="directory holding routes.yaml etc. (default: $PATCHBAY_CONFIG_DIR or .)",
    )
    serve = commands.add_parser("serve", parents=[config_dir], help="serve the API")
    serve.add_argument("--host")
    serve.add_argument("--port")
    serve.add_argument("--workers")
    serve.add_argument(
        "--server",
        choices=SERVERS,
        help="ASGI server (default: hypercorn; uvicorn and granian are extras)",
    )
    serve.add_argument("--log-level")
    serve.add_argument("--default-provider")
    serve.add_argument("--base-url", help="prefix for every route, e.g. /api")
    serve.add_argument("--debug", action="store_const", const="true")
    serve.add_argument("--no-watch", action="store_true", help="do not follow config changes")
    serve.add_argument(
        "--poll", action="store_true", help="watch by polling (Docker Desktop, WSL, NFS)"
    )
    commands.add_parser("check", parents=[config_dir], help="validate every config file")
    commands.add_parser("routes", parents=[config_dir], help="print the compiled route table")
    commands.add_parser("models", parents=[config_dir], help="print the model ids served")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    environ = dict(os.environ)
    directory = Path(args.config_dir or environ.get("PATCHBAY_CONFIG_DIR", ".")).resolve()
    overrides = _overrides(args) if args.command == "serve" else {}
    try:
        check_given_settings(environ, overrides)
        snapshot = build_snapshot(read_sources(directory), environ, overrides)
    except ConfigInvalid as invalid:
        if args.command == "serve":
            return _serve_or_fail(directory, environ, overrides, invalid)
        for problem in invalid.problems:
            print(problem, file=sys.stderr)
        return 1
    except SettingError as exc:
        print(f"patchbay: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        print(f"{directory}: configuration is valid (hash {snapshot.hash[:12]})")
        _warn_of_server(snapshot)
        return 0
    if args.command == "routes":
        _print_routes(snapshot)
        return 0
    if args.command == "models":
        print("\n".join(snapshot.model_ids()))
        return 0
    return _serve(directory, environ, overrides, snapshot)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(args, name) for name in SERVE_SETTINGS}
    values["no_watch"] = args.no_watch
    values["poll"] = args.poll
    return values


def _warn_of_server(snapshot: Snapshot) -> None:
    from engine.serving.servers import server_warnings

    for warning in server_warnings(snapshot.settings):
        print(f"warning: {warning}", file=sys.stderr)


def _print_routes(snapshot: Snapshot) -> None:
    prefix = snapshot.routes.prefix
    for route in snapshot.routes.routes:
        state = "" if route.enabled else "  (disabled)"
        methods = ",".join(sorted(route.methods))
        print(f"{methods:<12} {prefix + route.path:<40} {route.handler}{state}")


def _serve_or_fail(
    directory: Path,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any],
    invalid: ConfigInvalid,
) -> int:
    """A broken config may still serve from the last good copy; the Reloader decides."""
    from engine.live.reload import Reloader

    try:
        snapshot = Reloader(directory, environ=environ, overrides=overrides).snapshot
    except ConfigInvalid:
        if (missing := _missing_config(directory)) is not None:
            print(f"patchbay: {missing}", file=sys.stderr)
            return 1
        print(
            "patchbay: the configuration is invalid and no last good config can stand in:",
            file=sys.stderr,
        )
        for problem in invalid.problems:
            print(problem, file=sys.stderr)
        return 1
    return _serve(directory, environ, overrides, snapshot)


def _serve(
    directory: Path, environ: Mapping[str, str], overrides: Mapping[str, Any], snapshot: Snapshot
) -> int:
    from engine.config.server_file import server_file_values
    from engine.config.settings import overridden_in_file
    from engine.serve import serve
    from engine.serving.listen import ListenError
    from engine.serving.servers import ServerMissing

    # Workers are fresh processes: they learn the command line through the environment,
    # where it still outranks server.yaml.
    os.environ["PATCHBAY_CONFIG_DIR"] = str(directory)
    for name in SERVE_SETTINGS:
        if overrides.get(name) is not None:
            os.environ["PATCHBAY_" + name.upper()] = str(overrides[name])
    if overrides.get("no_watch"):
        os.environ["PATCHBAY_WATCH_ENABLED"] = "false"
    if overrides.get("poll"):
        os.environ["PATCHBAY_WATCH_POLLING"] = "true"
    notes = overridden_in_file(server_file_values(directory), environ, overrides)
    try:
        return serve(snapshot.settings, directory / snapshot.settings.state_dir, notes)
    except (ListenError, ServerMissing) as exc:
        print(f"patchbay: {exc}", file=sys.stderr)
        return 1


def _missing_config(directory: Path) -> str | None:
    """One line when there is no config to serve at all: the directory or its providers.yaml."""
    where = "(the config directory: --config-dir, else $PATCHBAY_CONFIG_DIR, else the current one)"
    if not directory.is_dir():
        return f"{directory} is not a directory {where}"
    if not (directory / "providers.yaml").is_file():
        return f"no providers.yaml in {directory} {where}"
    return None
