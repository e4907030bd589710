"""A provider's request policy: the headers it sets and forwards, how its key is sent, and
the query parameters every URL carries.

    headers: {set: {X-Title: Patchbay}, forward: [anthropic-beta]}   # or {X-Title: Patchbay}
    auth: {type: header, header: api-key}                            # Azure OpenAI
    query: {api-version: "2024-10-21"}

Compiled once per snapshot into the Provider's fields; the kinds build their headers and
URLs from them (engine/providers/base.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from engine.config import resolve_env
from engine.providers.base import UpstreamAuth

REQUEST_FIELDS = frozenset({"headers", "auth", "query"})


def request_policy(spec: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The Provider fields for a validated provider `spec`: headers, forward, auth, query."""
    headers = spec.get("headers", {})
    # The plain form maps names to strings; the policy form holds a mapping and a list.
    policy = any(not isinstance(value, str) for value in headers.values())
    return {
        "headers": resolved_values(headers.get("set", {}) if policy else headers, environ),
        "forward": tuple(headers.get("forward", ())) if policy else (),
        "auth": upstream_auth(spec["auth"]) if "auth" in spec else None,
        "query": urlencode(resolved_values(spec.get("query", {}), environ)),
    }


def upstream_auth(spec: Mapping[str, Any]) -> UpstreamAuth:
    """`{type: bearer}` sends `Authorization: Bearer KEY` (or `HEADER: Bearer KEY`);
    `{type: header, header: HEADER}` sends `HEADER: KEY`."""
    scheme = "Bearer " if spec["type"] == "bearer" else ""
    return UpstreamAuth(header=spec.get("header", "Authorization"), scheme=scheme)


def resolved_values(declared: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """Values with `${VAR}`s resolved; one whose variable is unset is not sent."""
    resolved = {name: resolve_env(value, environ) for name, value in declared.items()}
    return {name: value for name, value in resolved.items() if value is not None}
