"""The start-up summary: where Patchbay answers, its pages, and what the config serves.

A few log lines, each with its facts as `fields` for `log_format: json`:

    Patchbay 0.1.0 serving http://127.0.0.1:8000 (config /srv/patchbay, hash 3f2a9c1b7d4e)
    pages: http://127.0.0.1:8000/ · docs http://127.0.0.1:8000/docs · reference ...
    providers: 1 active (echo) · switched off: ollama · missing a key: groq (set GROQ_API_KEY)
    models: 2 served (1 chat, 1 embedding) and 3 aliases (fast, smart, web)
    tracing: OTLP/HTTP to http://127.0.0.1:4318/v1/traces as patchbay (all traces, no content)
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from engine.config.settings import Telemetry
from engine.http.pages import page_urls
from engine.snapshot.model import Snapshot
from engine.version import __version__

log = logging.getLogger("patchbay")

WILDCARDS = ("0.0.0.0", "::", "")  # listening on every interface: shown as loopback


def log_startup(snapshot: Snapshot, config_dir: Path, last_good_errors: list[str]) -> None:
    """Log the summary; `last_good_errors` (the files' problems) when the last good
    config stands in for broken files."""
    address = origin(snapshot)
    where = f"config {config_dir}, hash {snapshot.hash[:12]}"
    _info(
        f"Patchbay {__version__} serving {address}{_wildcard_note(snapshot)} ({where})",
        {
            "address": address,
            "version": __version__,
            "config_dir": str(config_dir),
            "hash": snapshot.hash,
        },
    )
    _info(*_pages(snapshot, address))
    _info(*_providers(snapshot))
    _info(*_models(snapshot))
    if snapshot.settings.telemetry is not None:
        _info(*_tracing(snapshot.settings.telemetry))
    if last_good_errors:
        log.warning(
            "CONFIG ON DISK IS INVALID; serving the last good config %s until it is fixed:\n%s",
            snapshot.hash[:12],
            "\n".join(last_good_errors),
            extra={"fields": {"event": "serving_last_good", "problems": last_good_errors}},
        )


def origin(snapshot: Snapshot) -> str:
    """`http://host:port` as a browser on this machine would reach it."""
    host = snapshot.settings.host
    shown = "127.0.0.1" if host in WILDCARDS else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{snapshot.settings.port}"


def _wildcard_note(snapshot: Snapshot) -> str:
    host = snapshot.settings.host
    return f" and on every interface ({host or '0.0.0.0'})" if host in WILDCARDS else ""


def _info(message: str, fields: dict[str, Any]) -> None:
    log.info(message, extra={"fields": {"event": "startup", **fields}})


def _pages(snapshot: Snapshot, address: str) -> tuple[str, dict[str, Any]]:
    urls = page_urls(snapshot)
    named = {
        "landing": urls.landing,
        "docs": urls.docs,
        "reference": urls.reference,
        "dashboard": urls.dashboard,
    }
    full = {name: address + path for name, path in named.items() if path is not None}
    shown = [full["landing"]] + [f"{name} {url}" for name, url in full.items() if name != "landing"]
    return "pages: " + " · ".join(shown), full


def _providers(snapshot: Snapshot) -> tuple[str, dict[str, Any]]:
    providers = list(snapshot.providers.values())
    active = [p.name for p in providers if p.active]
    off = [p.name for p in providers if p.status == "disabled"]
    keyless = {p.name: list(p.needs) for p in providers if p.status == "missing_key"}
    parts = [f"{len(active)} active ({', '.join(active) or 'none'})"]
    if off:
        parts.append("switched off: " + ", ".join(off))
    if keyless:
        waiting = [f"{name} (set {' and '.join(needs)})" for name, needs in keyless.items()]
        parts.append("missing a key: " + ", ".join(waiting))
    return "providers: " + " · ".join(parts), {
        "active": active,
        "disabled": off,
        "missing_key": keyless,
    }


def _models(snapshot: Snapshot) -> tuple[str, dict[str, Any]]:
    served = [m for m in snapshot.model_ids() if m not in snapshot.aliases]
    types = Counter(snapshot.plans[m].targets[0].model.type for m in served)
    by_type = ", ".join(f"{count} {kind}" for kind, count in types.items())
    aliases = list(snapshot.aliases)
    message = f"models: {len(served)} served ({by_type or 'none'})"
    message += f" and {len(aliases)} aliases ({', '.join(aliases)})" if aliases else ", no aliases"
    return message, {"models": len(served), "by_type": dict(types), "aliases": aliases}


def _tracing(telemetry: Telemetry) -> tuple[str, dict[str, Any]]:
    parts = urlsplit(telemetry.endpoint)  # shown without credentials or query
    endpoint = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    ratio = telemetry.sample_ratio
    sampled = "all traces" if ratio == 1 else f"{ratio:.0%} of new traces"
    content = "with content" if telemetry.capture_content else "no content"
    message = f"tracing: OTLP/HTTP to {endpoint} as {telemetry.service_name} ({sampled}, {content})"
    return message, {
        "tracing_endpoint": endpoint,
        "service_name": telemetry.service_name,
        "sample_ratio": ratio,
        "capture_content": telemetry.capture_content,
    }
