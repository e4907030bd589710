"""The Quart application: lifecycle, pages, and the front door for the API routes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

from engine.errors import GatewayError, InternalError, MethodNotAllowed, NotFound
from engine.formats import OPENAI
from engine.front import REQUEST_ID_KEY, Front
from engine.live.reload import logging_of
from engine.observe.logs import configure_logging
from engine.runtime import Runtime
from engine.site.pages import install_pages
from engine.site.summary import log_startup


def create_app(
    config_dir: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Quart:
    """The ASGI app for `config_dir` (default: $PATCHBAY_CONFIG_DIR, else the cwd).

    `overrides` are settings with command-line precedence (e.g. `base_url="/api"`).
    Raises ConfigInvalid when the config is invalid and no last good config exists.
    """
    env = dict(os.environ if environ is None else environ)
    directory = Path(config_dir or env.get("PATCHBAY_CONFIG_DIR", ".")).resolve()
    runtime = Runtime(directory, environ=env, overrides=overrides)
    configure_logging(*logging_of(runtime.snapshot.settings))
    app = Quart(__name__)
    app.config["PATCHBAY_RUNTIME"] = runtime

    @app.before_serving
    async def start() -> None:
        await runtime.start()
        status = runtime.reloader.status
        errors = status.last_error if status.from_last_good else []
        log_startup(runtime.snapshot, directory, errors)

    @app.after_serving
    async def stop() -> None:
        await runtime.stop()

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        err: GatewayError
        if exc.code == 405:
            err = MethodNotAllowed(f"Method not allowed: {exc.description}")
        elif exc.code is not None and exc.code >= 500:  # Quart logged the fault already
            err = InternalError.for_request(str(request.scope.get(REQUEST_ID_KEY, "")))
        else:
            err = NotFound("No route matches this path.")
        body = OPENAI.error_body(err, err.message, err.type)
        return Response(body, status=err.status, content_type="application/json")

    install_pages(app, runtime)
    # The API routes take the plain-ASGI front door; Quart serves what they do not match.
    app.asgi_app = Front(runtime, app.asgi_app)  # type: ignore[method-assign, assignment, arg-type]
    return app
