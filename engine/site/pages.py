"""The pages people see: landing page with playground, API docs, and their assets.

Where each page lives comes from the live settings (`base_url`, `api.docs_url`, ...),
which change on reload, so one catch-all Quart route looks the path up in a small
table derived from the snapshot of each request. What no page claims answers
OpenAI's 404 JSON, like any other unknown path.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
import swagger_ui_bundle  # type: ignore[import-untyped]
from quart import Quart, Response, request, send_from_directory

from engine.errors import GatewayError, MethodNotAllowed, NotFound
from engine.http.pages import (
    HTML,
    PAGE_HEADERS,
    PageUrls,
    page_context,
    page_urls,
    route_path,
    templates_dir,
)
from engine.http.rendering import render_error
from engine.observe.redact import redact_all
from engine.providers.base import Provider
from engine.routing.cooldowns import health
from engine.runtime import Runtime
from engine.site.markdown import markdown_block, markdown_inline
from engine.site.openapi import openapi_document
from engine.snapshot.model import Snapshot
from engine.snapshot.templates import Pages

PAGE_METHODS = ("GET", "HEAD")
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

PageView = Callable[[Snapshot], Awaitable[Response]]


def chat_path(snapshot: Snapshot, handler: str = "chat.completions") -> str | None:
    """The full path the playground posts to (or another handler's POST route), or None
    while no enabled route serves it."""
    return route_path(snapshot, handler)


async def status_document(runtime: Runtime, snapshot: Snapshot) -> dict[str, Any]:
    """What the landing page shows and polls: config identity, providers, models, routes.

    A provider's status is its config state, or `cooldown` while recent failures keep
    all its models out of rotation; `health` says how each model fares. The reload error text is shown only while auth is off: with
    auth on, the page is public but the details belong to GET /admin/config.
    """
    reload_status = runtime.reloader.status
    settings = snapshot.settings
    errors = reload_status.last_error  # masked with the rest of the document by its callers
    models = []
    for model_id in snapshot.model_ids():
        plan = snapshot.plans[model_id]
        alias = model_id in snapshot.aliases
        models.append(
            {
                "id": model_id,
                "type": plan.targets[0].model.type,
                "owned_by": "patchbay" if alias else plan.targets[0].provider.name,
                "alias": [t.public_id for t in plan.targets] if alias else None,
                "strategy": plan.strategy if alias else None,
            }
        )
    return {
        "api": {
            "title": settings.api.title,
            "description": settings.api.description,
            "version": settings.api.version,
            "auth_required": settings.auth.required,
            "chat": chat_path(snapshot),
            "responses": chat_path(snapshot, "responses.create"),
            "messages": chat_path(snapshot, "messages.create"),
            "speech": chat_path(snapshot, "audio.speech"),
            "urls": dataclasses.asdict(page_urls(snapshot)),
        },
        "config": {
            "hash": snapshot.hash,
            "loaded_at": snapshot.loaded_at,
            "sources": list(snapshot.sources),
            "serving_last_good": reload_status.from_last_good,
            "last_error": (errors if not settings.auth.required else ["(see /admin/config)"])
            if errors
            else [],
            "last_error_at": reload_status.last_error_at,
            "restart_needed": list(reload_status.restart_needed),
        },
        "providers": [await _provider_state(runtime, p) for p in snapshot.providers.values()],
        "models": models,
        "routes": [
            {
                "path": snapshot.routes.prefix + r.path,
                "methods": sorted(r.methods),
                "handler": r.handler,
                "enabled": r.enabled,
            }
            for r in snapshot.routes.routes
        ],
    }


async def _provider_state(runtime: Runtime, provider: Provider) -> dict[str, Any]:
    """The provider's public state and, while active, each model's health; a provider
    all of whose models are cooling shows as `cooldown`."""
    state = provider.public()
    if provider.active:
        cooldowns = await runtime.state.cooldowns(runtime.snapshot.settings.redis_url)
        state["health"] = await health(cooldowns, provider)
        if state["health"] and all(h.startswith("cooling") for h in state["health"].values()):
            state["status"] = "cooldown"
    return state


def reference_sections(document: Mapping[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The document's operations grouped by tag, tags in the order routes.yaml lists them."""
    sections: dict[str, list[dict[str, Any]]] = {}
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            entry = {"path": path, "method": method, "op": op}
            sections.setdefault(op["tags"][0], []).append(entry)
    return list(sections.items())


def _hint(snapshot: Snapshot, path: str) -> str:
    """What a 404 suggests: the route `path` probably meant, else where routes start."""
    suggestion = snapshot.routes.suggest(path)
    if suggestion is not None:
        return f" Did you mean {suggestion}?"
    base = snapshot.settings.base_url
    return f" This server's routes start with {base}." if base else ""


def _json(data: Any) -> Response:
    return Response(
        orjson.dumps(data), content_type="application/json", headers={"Cache-Control": "no-store"}
    )


def _error(err: GatewayError, snapshot: Snapshot) -> Response:
    reply = render_error(err, snapshot)
    return Response(
        reply.body, status=reply.status, headers=reply.headers, content_type=reply.content_type
    )


async def _send_file(folder: Path, name: str, snapshot: Snapshot) -> Response:
    """A static file; send_from_directory refuses names that leave `folder` (404)."""
    reply = await send_from_directory(folder, name)
    reply.headers["Cache-Control"] = "public, max-age=3600"
    return reply


class Site:
    """The pages of one app: templates loaded once, the page table read per request."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.directory = templates_dir()
        self.pages = Pages(
            self.directory, {"markdown": markdown_block, "markdown_inline": markdown_inline}
        )

    def views(self, snapshot: Snapshot, urls: PageUrls) -> dict[str, PageView]:
        table: dict[str, PageView] = {urls.landing: self.landing, urls.status: self.status}
        if snapshot.settings.base_url:
            table[snapshot.settings.base_url] = self.landing
        for url, view in (
            (urls.docs, self.swagger),
            (urls.reference, self.reference),
            (urls.openapi, self.openapi),
        ):
            if url is not None:
                table.setdefault(url, view)
        return table

    def asset(self, path: str, urls: PageUrls) -> PageView | None:
        """The view sending one of the pages' static files, when `path` names one."""
        for prefix, folder in (
            (urls.static, self.directory / "static"),
            (urls.swagger, Path(swagger_ui_bundle.swagger_ui_path)),
        ):
            if path.startswith(prefix) and len(path) > len(prefix):
                return functools.partial(_send_file, folder, path[len(prefix) :])
        return None

    async def serve(self) -> Response:
        snapshot = self.runtime.snapshot  # read once: the whole page uses this snapshot
        path = request.path
        urls = page_urls(snapshot)
        view = self.views(snapshot, urls).get(path) or self.asset(path, urls)
        if view is None:
            return _error(NotFound(f"No route matches {path}.{_hint(snapshot, path)}"), snapshot)
        if request.method not in PAGE_METHODS:
            allow = ", ".join(PAGE_METHODS)
            err = MethodNotAllowed(
                f"Method {request.method} is not allowed on {path}; allowed: {allow}.",
                headers={"Allow": allow},
            )
            return _error(err, snapshot)
        return await view(snapshot)

    def _html(self, name: str, snapshot: Snapshot, **context: Any) -> Response:
        text = self.pages.render(name, {**page_context(snapshot), **context})
        return Response(text, content_type=HTML, headers=dict(PAGE_HEADERS))

    async def landing(self, snapshot: Snapshot) -> Response:
        status = redact_all(await status_document(self.runtime, snapshot), snapshot.redact)
        boot = orjson.dumps(status).decode()
        # Inside <script type="application/json">, "</" must not close the element.
        return self._html("index.html", snapshot, boot=boot.replace("</", "<\\/"))

    async def status(self, snapshot: Snapshot) -> Response:
        status = await status_document(self.runtime, snapshot)
        return _json(redact_all(status, snapshot.redact))

    async def openapi(self, snapshot: Snapshot) -> Response:
        return _json(redact_all(openapi_document(snapshot), snapshot.redact))

    async def swagger(self, snapshot: Snapshot) -> Response:
        return self._html("docs.html", snapshot)

    async def reference(self, snapshot: Snapshot) -> Response:
        document = redact_all(openapi_document(snapshot), snapshot.redact)
        sections = reference_sections(document)
        return self._html("reference.html", snapshot, document=document, sections=sections)


def install_pages(app: Quart, runtime: Runtime) -> None:
    """Serve the pages on `app`: every path that routes.yaml does not claim comes here.

    A second call on the same app does nothing.
    """
    if "patchbay_pages" in app.extensions:
        return
    site = Site(runtime)
    app.extensions["patchbay_pages"] = site

    async def page(path: str = "") -> Response:
        return await site.serve()

    app.add_url_rule("/", "patchbay_page_root", page, methods=ALL_METHODS)
    app.add_url_rule("/<path:path>", "patchbay_page", page, methods=ALL_METHODS)
