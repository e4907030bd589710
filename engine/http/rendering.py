"""GatewayError -> the answer a client sees: the route's wire format, the routes.yaml
template, and the config's secrets masked out of the message."""

from __future__ import annotations

from engine.errors import GatewayError
from engine.formats import OPENAI, WireFormat
from engine.http.messages import Response
from engine.snapshot.model import Snapshot


def render_error(
    err: GatewayError, snapshot: Snapshot | None = None, wire: WireFormat = OPENAI
) -> Response:
    """The one renderer of error answers; a template for the error's code sets its
    status, type and message."""
    template = snapshot.error_templates.get(err.code or "") if snapshot else None
    redact = snapshot.redact if snapshot else str
    headers = dict(err.headers)
    if template is None:
        return Response(wire.error_body(err, redact(err.message), err.type), err.status, headers)
    context = {"message": err.message, "param": err.param, "code": err.code, **err.context}
    body = wire.error_body(err, redact(template.render(context)), template.type)
    return Response(body, template.status, headers)
