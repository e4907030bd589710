"""Patchbay's own HTML pages, as every server of them sends them: where the templates
are, where each page lives under the live settings, and the headers a page carries.

The site (engine/site/pages.py) serves the landing page and the docs; a handler that
answers a page (the dashboard) renders its template with the same context and headers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.observe.redact import redact_all
from engine.snapshot.model import Snapshot

STATUS_PATH = "/_patchbay/status"
STATIC_PREFIX = "/_patchbay/static/"
SWAGGER_PREFIX = "/_patchbay/swagger-ui/"
# Pages load scripts, styles and data from this server only; the UI works offline (the
# speech tab plays, from a blob: URL, audio it fetched from this server).
CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store"}
HTML = "text/html; charset=utf-8"


def templates_dir() -> Path:
    """The packaged `engine/templates` (wheel installs), else `templates/` of the checkout."""
    package = Path(__file__).resolve().parent.parent  # engine/
    for candidate in (package / "templates", package.parent / "templates"):
        if (candidate / "index.html").is_file():
            return candidate
    raise FileNotFoundError(f"Patchbay's page templates are missing (looked beside {package})")


@dataclass(frozen=True, slots=True)
class PageUrls:
    """Where each page lives under the live settings; None: switched off (empty URL, or
    no enabled route)."""

    landing: str
    status: str
    static: str
    swagger: str
    docs: str | None
    reference: str | None
    openapi: str | None
    dashboard: str | None


def page_urls(snapshot: Snapshot) -> PageUrls:
    base, api = snapshot.settings.base_url, snapshot.settings.api
    return PageUrls(
        landing=base + "/",
        status=base + STATUS_PATH,
        static=base + STATIC_PREFIX,
        swagger=base + SWAGGER_PREFIX,
        docs=base + api.docs_url if api.docs_url else None,
        reference=base + api.redoc_url if api.redoc_url else None,
        openapi=base + api.openapi_url if api.openapi_url else None,
        dashboard=route_path(snapshot, "dashboard.page", "GET"),
    )


def route_path(snapshot: Snapshot, handler: str, method: str = "POST") -> str | None:
    """The full path of the first enabled route serving `handler` by `method`, or None."""
    for route in snapshot.routes.routes:
        if route.enabled and route.handler == handler and method in route.methods:
            return snapshot.routes.prefix + route.path
    return None


def page_context(snapshot: Snapshot) -> dict[str, Any]:
    """What every page template is given: `api` (title, version, ...) and `urls`."""
    return {
        "api": redact_all(dataclasses.asdict(snapshot.settings.api), snapshot.redact),
        "urls": dataclasses.asdict(page_urls(snapshot)),
    }
