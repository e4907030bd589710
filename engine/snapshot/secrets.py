"""Which config values are secrets: whatever a `${VAR}` brought in, and what is sent to an
upstream as a key or a header. Every text that leaves the process is masked of them
(engine/observe/redact.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from engine.config import env_refs

KEY_FIELDS = frozenset({"api_key", "key", "admin_key"})  # written out, these are secrets too


def secret_values(data: Mapping[str, Any], environ: Mapping[str, str]) -> frozenset[str]:
    """The secrets of a validated config (`data` as load_config returns it)."""
    found: set[str] = set()
    _walk(data, environ, found, "")
    return frozenset(found)


def url_password(url: str | None) -> frozenset[str]:
    """The password in a URL such as redis_url, however it was given."""
    try:
        password = urlsplit(url).password if url else None
    except ValueError:
        return frozenset()
    return frozenset([password] if password else [])


def _walk(value: Any, environ: Mapping[str, str], found: set[str], field: str) -> None:
    if isinstance(value, str):
        names = env_refs(value)
        found.update(environ[name] for name in names if environ.get(name))
        if field in KEY_FIELDS and not names:
            found.add(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "headers" and isinstance(item, dict):
                for header in item.values():
                    _walk(header, environ, found, "key")  # every header value is a secret
            else:
                _walk(item, environ, found, key)
    elif isinstance(value, list):
        for item in value:
            _walk(item, environ, found, field)
