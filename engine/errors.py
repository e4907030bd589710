"""The GatewayError tree: every failure a client can see, with its status, type and code.

Each class carries its HTTP status, error `type` and `code` as class attributes; the
route's wire format (engine/formats) renders them in its own shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class GatewayError(Exception):
    """A failure with a client-facing OpenAI error shape."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "api_error"
    code: ClassVar[str | None] = None
    # Which routing-policy failure class this is ("connect", "timeout", "429", "5xx",
    # "4xx"); None for failures of the client's own request, which never fall through.
    failure: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        # Per-instance overrides of the class defaults (e.g. a relayed upstream status).
        if code is not None:
            self.code = code  # type: ignore[misc]
        if status is not None:
            self.status = status  # type: ignore[misc]
        self.headers: dict[str, str] = dict(headers or {})
        # Values an error template in routes.yaml may use, e.g. {{ model }}.
        self.context: dict[str, Any] = dict(context or {})


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class RequestTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class RequestTimedOut(GatewayError):
    status = 408
    type = "invalid_request_error"
    code = "request_timeout"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"
    failure = "429"


class QuotaExceeded(GatewayError):
    """A client key spent its budget (OpenAI's answer to an account out of credit)."""

    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"


class UpstreamRejected(GatewayError):
    """The upstream answered 4xx: its status and message are relayed."""

    type = "invalid_request_error"
    code = "upstream_rejected"
    failure = "4xx"


class UpstreamFailed(GatewayError):
    status = 502
    type = "api_error"
    code = "upstream_error"
    failure = "5xx"


class UpstreamUnreachable(UpstreamFailed):
    code = "upstream_unreachable"
    failure = "connect"


class NoProviderAvailable(GatewayError):
    status = 503
    type = "api_error"
    code = "no_provider_available"


class ServiceUnavailable(GatewayError):
    """A part of Patchbay itself (e.g. the Redis behind stored responses) did not answer."""

    status = 503
    type = "api_error"
    code = "service_unavailable"


class ShuttingDown(GatewayError):
    """The worker is stopping and its graceful_timeout ran out before this request ended."""

    status = 503
    type = "api_error"
    code = "server_shutting_down"


class UpstreamTimeout(GatewayError):
    status = 504
    type = "api_error"
    code = "upstream_timeout"
    failure = "timeout"


class InternalError(GatewayError):
    """A fault in Patchbay itself: logged with its traceback, shown with the request id."""

    status = 500
    type = "api_error"
    code = "internal_error"

    @classmethod
    def for_request(cls, request_id: str) -> InternalError:
        return cls(
            "Patchbay failed to answer this request; the fault is logged under "
            f"request id {request_id}."
        )
