"""`patchbay schema`, `patchbay explain` and `patchbay check --against URL | --diff`.

`check --against` asks a running gateway (GET /admin/config, with the admin key) what
it serves and which of the variables the files on disk refer to it has set, compiles the
files as a reload there would (its variables, its discovered model lists), and prints
what would change. Nothing is applied.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.config import ConfigInvalid, load_config, read_sources, resolve_env
from engine.config.schema import SCHEMA_NAMES, schema_file
from engine.config.settings import SettingError, resolve_settings
from engine.handlers import HANDLER_NAMES, WIRE_FORMATS
from engine.live.reload import build_snapshot
from engine.modeltypes import MODEL_TYPES
from engine.providers import KINDS
from engine.routing.explain import explain, explain_now, render_text
from engine.snapshot import diff as configdiff
from engine.snapshot.describe import describe, referenced
from engine.snapshot.model import Snapshot

ADMIN_TIMEOUT = 10.0  # seconds for the gateway to answer GET /admin/config
_EVERYWHERE = ("0.0.0.0", "::", "")


class GatewayUnreachable(Exception):
    """The running gateway could not be asked (down, wrong URL, admin key refused)."""


def add_commands(commands: Any, config_dir: argparse.ArgumentParser) -> None:
    """The `schema` and `explain` subcommands."""
    schema = commands.add_parser("schema", help="print a config file's JSON Schema")
    schema.set_defaults(config_dir=None)  # reads no config
    schema.add_argument(
        "name",
        nargs="?",
        choices=SCHEMA_NAMES,
        help="which file's schema (default: list where each schema is installed)",
    )
    model = commands.add_parser(
        "explain", parents=[config_dir], help="show how a model name resolves"
    )
    model.add_argument(
        "model", help="a PROVIDER/MODEL, an alias, a bare model name or auto (no default)"
    )
    model.add_argument(
        "--key", help="the name of a client key from config/server.yaml (default: none)"
    )
    model.add_argument(
        "--type",
        default="chat",
        choices=tuple(MODEL_TYPES),
        help="the model type auto stands for (default: chat)",
    )
    model.add_argument(
        "--json", action="store_true", help="print JSON, as GET /admin/explain (default: text)"
    )


def add_check_options(check: argparse.ArgumentParser) -> None:
    """`check --against URL` and `check --diff`: what a reload would change on a gateway."""
    target = check.add_mutually_exclusive_group()
    target.add_argument(
        "--against",
        metavar="URL",
        help="a running gateway to compare with, e.g. http://host:8000 (default: none)",
    )
    target.add_argument(
        "--diff",
        action="store_true",
        help="compare with the gateway these files describe, at their host:port (default: off)",
    )
    check.add_argument(
        "--json", action="store_true", help="print the changes as JSON (default: text)"
    )


def run_early(args: argparse.Namespace, directory: Path, environ: Mapping[str, str]) -> int | None:
    """Run a command that needs no compiled snapshot of its own; None for the others."""
    if args.command == "schema":
        return print_schema(args.name)
    if args.command == "check" and (args.against or args.diff):
        return check_against(args, directory, environ)
    return None


def print_schema(name: str | None) -> int:
    if name is None:
        for known in SCHEMA_NAMES:
            print(f"{known:<10} {schema_file(known)}")
        return 0
    sys.stdout.write(schema_file(name).read_text())
    return 0


def print_explanation(args: argparse.Namespace, snapshot: Snapshot) -> int:
    """Exit 0 when the model is served (and the key, if given, may use it), else 1."""
    if snapshot.settings.redis_url:
        result = asyncio.run(_explain_from_redis(args, snapshot, snapshot.settings.redis_url))
    else:
        result = explain(snapshot, args.model, args.key, args.type, cooldowns_note=IN_MEMORY)
    print(json.dumps(result, indent=2) if args.json else render_text(result))
    return 0 if result["served"] and result.get("key", {}).get("may_use", True) else 1


IN_MEMORY = "kept in each worker's memory; GET /admin/explain shows a worker's"


async def _explain_from_redis(
    args: argparse.Namespace, snapshot: Snapshot, redis_url: str
) -> dict[str, Any]:
    """The explanation with the cooldowns every worker shares in Redis, if it answers."""
    from engine.stores.redis_store import RedisState  # loads redis only when it is used

    failed: list[bool] = []
    store = RedisState(redis_url, on_failure=lambda: failed.append(True))
    try:
        result = await explain_now(snapshot, store, "redis", args.model, args.key, args.type)
    finally:
        await store.close()
    if failed:
        note = "not known: the Redis at redis_url did not answer"
        return explain(snapshot, args.model, args.key, args.type, cooldowns_note=note)
    return result


def check_against(args: argparse.Namespace, directory: Path, environ: Mapping[str, str]) -> int:
    """Exit 0 with the changes, 1 when the files would be rejected, 2 when no gateway answers."""
    try:
        source = read_sources(directory)
        declared = load_config(source, handlers=HANDLER_NAMES, kinds=KINDS.keys())
        url = args.against or local_url(declared["server"], environ)
        names = sorted(referenced(declared))
        served = fetch_config(url, admin_key(declared["server"], environ), names)
        # The gateway's variables, by presence (a value never leaves it), and its
        # discovered model lists: what a reload there would compile with.
        gateway_env = {name: "set" for name, present in served["variables"].items() if present}
        discovered = {
            name: tuple(p["models"]) for name, p in served["providers"].items() if p["discover"]
        }
        snapshot = build_snapshot(source, WIRE_FORMATS, gateway_env, {}, discovered)
    except ConfigInvalid as invalid:
        print("A reload would reject these files:", file=sys.stderr)
        for problem in invalid.problems:
            print(problem, file=sys.stderr)
        return 1
    except (GatewayUnreachable, SettingError) as exc:
        print(f"patchbay: {exc}", file=sys.stderr)
        return 2
    on_disk = describe(snapshot, gateway_env)
    changes = configdiff.diff(served, on_disk)
    if args.json:
        print(json.dumps({"gateway": url, "files": str(directory), "changes": changes}, indent=2))
    elif changes:
        print(f"Reloading {directory} on {url} would change:")
        print("\n".join(configdiff.render(changes, on_disk)))
    else:
        print(f"Reloading {directory} on {url} would change nothing.")
    return 0


def local_url(server: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The URL of the gateway `server` describes, as seen from this machine."""
    listed = {k: server[k] for k in ("host", "port", "base_url") if k in server}
    values = {k: resolve_env(v, environ) if isinstance(v, str) else v for k, v in listed.items()}
    settings = resolve_settings(values, environ, {})
    host = "127.0.0.1" if settings.host in _EVERYWHERE else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}{settings.base_url}"


def admin_key(server: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The admin key as the files declare it, read from this environment."""
    declared = server.get("auth", {}).get("admin_key")
    resolved = resolve_env(declared, environ) if isinstance(declared, str) else None
    return resolved or environ.get("PATCHBAY_ADMIN_KEY", "")


def fetch_config(url: str, key: str, variables: list[str]) -> dict[str, Any]:
    """The `config` of GET {url}/admin/config, naming `variables` so it says which are set."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise GatewayUnreachable(f"{url} is not an http:// or https:// URL")
    query = urllib.parse.urlencode({"variables": ",".join(variables)})
    request = urllib.request.Request(
        f"{url.rstrip('/')}/admin/config?{query}", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=ADMIN_TIMEOUT) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as err:
        raise GatewayUnreachable(_refusal(url, err.code)) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GatewayUnreachable(f"cannot ask {url}/admin/config: {reason}") from None
    view = body.get("config") if isinstance(body, dict) else None
    if not isinstance(view, dict) or "variables" not in view:
        raise GatewayUnreachable(f"{url}/admin/config does not describe what it serves")
    return view


def _refusal(url: str, status: int) -> str:
    if status == 401:
        return (
            f"{url} refused the admin key (it is read as auth.admin_key declares, "
            "else from PATCHBAY_ADMIN_KEY)"
        )
    if status == 404:
        return f"{url} has no /admin/config (is an admin key set there?)"
    return f"{url}/admin/config answered {status}"
