"""GatewayError -> the answer a client sees: the route's wire format, the routes.yaml template."""

from __future__ import annotations

from collections.abc import Mapping

from engine.errors import GatewayError
from engine.formats import OPENAI, WireFormat
from engine.http.messages import Response
from engine.snapshot.model import ErrorTemplate


def render_error(
    err: GatewayError,
    templates: Mapping[str, ErrorTemplate] | None = None,
    wire: WireFormat = OPENAI,
) -> Response:
    """The one renderer of error answers; a template for the error's code sets its
    status, type and message."""
    template = templates.get(err.code or "") if templates else None
    headers = dict(err.headers)
    if template is None:
        return Response(wire.error_body(err, err.message, err.type), err.status, headers)
    context = {"message": err.message, "param": err.param, "code": err.code, **err.context}
    body = wire.error_body(err, template.render(context), template.type)
    return Response(body, template.status, headers)
