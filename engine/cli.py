"""`patchbay serve|check|routes|models|explain|schema|init` (also `python -m engine`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine import commands as authoring
from engine.config import ConfigInvalid, read_sources
from engine.config.settings import (
    ENV_PREFIX,
    LOG_LEVELS,
    SERVERS,
    SettingError,
    Settings,
    check_given_settings,
)
from engine.config.shipped import ShippedMissing, write_starter
from engine.handlers import WIRE_FORMATS
from engine.live.reload import build_snapshot
from engine.snapshot.model import Snapshot
from engine.version import __version__

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


DESCRIPTION = "Patchbay: an OpenAI-compatible API gateway whose whole surface is declared in YAML."
EPILOG = (
    "Start with: patchbay init mydir && patchbay serve --config-dir mydir. "
    "Every serve setting is also a PATCHBAY_* variable and a key in config/server.yaml; "
    "the command line beats the variable, which beats the file."
)


def _setting(name: str, what: str) -> str:
    """Help for a flag that is also a setting: what it is, and where its default comes from."""
    default = getattr(Settings(), name)
    shown = "none" if default in (None, "") else str(default).lower()
    variable = ENV_PREFIX + name.upper()
    return f"{what} (default: ${variable}, else {name} in config/server.yaml, else {shown})"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="patchbay", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"patchbay {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_dir = argparse.ArgumentParser(add_help=False)
    config_dir.add_argument(
        "--config-dir",
        metavar="DIR",
        help="the config directory, holding routes.yaml, providers.yaml and "
        "config/server.yaml (default: $PATCHBAY_CONFIG_DIR, else the current directory)",
    )
    serve = commands.add_parser(
        "serve",
        parents=[config_dir],
        help="serve the API, following edits of the config directory",
        description="Serve the API (on Hypercorn, uvicorn or Granian); edits of the config "
        "directory apply live.",
    )
    serve.add_argument("--host", metavar="HOST", help=_setting("host", "address to listen on"))
    serve.add_argument("--port", metavar="PORT", help=_setting("port", "TCP port to listen on"))
    serve.add_argument("--workers", metavar="N", help=_setting("workers", "worker processes"))
    serve.add_argument(
        "--server",
        choices=SERVERS,
        help=_setting("server", "the ASGI server; uvicorn and granian are extras"),
    )
    serve.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        help=_setting("log_level", "the least severe level logged"),
    )
    serve.add_argument(
        "--default-provider",
        metavar="NAME",
        help="the provider serving auto and bare model names (default: "
        "$PATCHBAY_DEFAULT_PROVIDER, else config/server.yaml, else defaults.provider "
        "in providers.yaml)",
    )
    serve.add_argument(
        "--base-url",
        metavar="PREFIX",
        help=_setting("base_url", "a prefix for every route, e.g. /api"),
    )
    serve.add_argument(
        "--debug",
        action="store_const",
        const="true",
        help=_setting("debug", "log at debug level, whatever the log level"),
    )
    serve.add_argument(
        "--no-watch",
        action="store_true",
        help="do not follow edits of the config directory; SIGHUP and POST /admin/reload "
        "still re-read it (default: watch.enabled in config/server.yaml, else watching)",
    )
    serve.add_argument(
        "--poll",
        action="store_true",
        help="watch by polling, for Docker Desktop, WSL and network filesystems "
        "(default: watch.polling in config/server.yaml, else file events)",
    )
    parsers = {}
    for name, what in (
        ("check", "validate every config file; print file:line:col: message per problem"),
        ("routes", "print the compiled route table"),
        ("models", "print the model ids that would be served"),
    ):
        parsers[name] = commands.add_parser(
            name, parents=[config_dir], help=what, description=what.capitalize() + "."
        )
    authoring.add_check_options(parsers["check"])
    authoring.add_commands(commands, config_dir)
    init = commands.add_parser(
        "init",
        help="write the shipped, commented config files into a directory",
        description="Write routes.yaml, providers.yaml and config/server.yaml, as shipped "
        "and commented, into DIR; then serve them with patchbay serve --config-dir DIR.",
    )
    init.add_argument(
        "dir",
        nargs="?",
        default=".",
        metavar="DIR",
        help="where to write (default: the current directory)",
    )
    init.add_argument(
        "--force", action="store_true", help="overwrite files that exist (default: refuse)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "init":
        return _init(Path(args.dir), force=args.force)
    environ = dict(os.environ)
    directory = Path(args.config_dir or environ.get("PATCHBAY_CONFIG_DIR", ".")).resolve()
    overrides = _overrides(args) if args.command == "serve" else {}
    early = authoring.run_early(args, directory, environ)
    if early is not None:
        return early
    try:
        check_given_settings(environ, overrides)
        snapshot = build_snapshot(read_sources(directory), WIRE_FORMATS, environ, overrides)
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
    if args.command == "explain":
        return authoring.print_explanation(args, snapshot)
    return _serve(directory, environ, overrides, snapshot)


def _init(directory: Path, *, force: bool) -> int:
    try:
        written = write_starter(directory, force=force)
    except FileExistsError as exc:
        print(f"patchbay: {exc}; --force overwrites it", file=sys.stderr)
        return 1
    except (ShippedMissing, OSError) as exc:
        print(f"patchbay: cannot write the config: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    where = "" if directory.resolve() == Path.cwd() else f" --config-dir {directory}"
    print(f"next: patchbay serve{where}")
    return 0


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
        fixed = "".join(f" {name}={value}" for name, value in route.args.items())
        print(f"{methods:<12} {prefix + route.path:<40} {route.handler}{fixed}{state}")


def _serve_or_fail(
    directory: Path,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any],
    invalid: ConfigInvalid,
) -> int:
    """A broken config may still serve from the last good copy; the Reloader decides."""
    from engine.live.reload import Reloader

    try:
        snapshot = Reloader(
            directory, handlers=WIRE_FORMATS, environ=environ, overrides=overrides
        ).snapshot
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
