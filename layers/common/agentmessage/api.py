"""The HTTP side shared by every route: the envelope, and the one place errors become responses."""

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from agentmessage.auth import Caller, Scope, caller_from_authorizer
from agentmessage.errors import AgentMessageError, BadRequest, RouteNotFound
from agentmessage.observability import logger

JSON = "application/json"


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def build_resolver() -> APIGatewayRestResolver:
    """A REST-proxy resolver whose every answer, error or not, is the envelope."""
    app = APIGatewayRestResolver(serializer=_dumps)

    @app.exception_handler(AgentMessageError)
    def _domain_error(exc: AgentMessageError) -> Response[str]:
        if exc.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            _log_dependency_failure(exc)
        return error_response(app, exc)

    @app.not_found
    def _no_route(_: NotFoundError) -> Response[str]:
        return error_response(app, RouteNotFound())

    @app.exception_handler(Exception)
    def _bug(exc: Exception) -> Response[str]:
        logger.exception("unhandled error", extra={"error_type": type(exc).__name__})
        return error_response(app, AgentMessageError())

    return app


def _log_dependency_failure(exc: AgentMessageError) -> None:
    """Which dependency failed and how: the cause's type and AWS error code, never its message."""
    cause = exc.__cause__
    response = getattr(cause, "response", None)
    aws_code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    logger.warning(
        "request failed on a dependency",
        extra={
            "error_code": exc.code,
            "cause": type(cause).__name__ if cause else None,
            "aws_error": aws_code,
        },
    )


def request_id(app: APIGatewayRestResolver) -> str:
    return str(app.current_event.request_context.request_id or "")


def caller(app: APIGatewayRestResolver, scope: Scope) -> Caller:
    """The authenticated caller, holding ``scope``; 401 without authorizer context, 403 without scope."""
    return caller_from_authorizer(app.current_event.request_context.authorizer.raw_event).require(scope)


def request_body(app: APIGatewayRestResolver) -> str | None:
    """The body as text; one that is not the base64 or UTF-8 it claims to be is ``BadRequest``."""
    try:
        return app.current_event.decoded_body
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise BadRequest() from exc


def ok(app: APIGatewayRestResolver, status: HTTPStatus, data: dict[str, Any]) -> Response[str]:
    return Response(
        status_code=status,
        content_type=JSON,
        body=_dumps({"success": True, "data": data}),
        headers={"X-Request-Id": request_id(app)},
    )


def error_response(app: APIGatewayRestResolver, exc: AgentMessageError) -> Response[str]:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message, "request_id": request_id(app)}
    if exc.details:
        error["details"] = exc.details
    headers = {"X-Request-Id": request_id(app)}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return Response(
        status_code=exc.status,
        content_type=JSON,
        body=_dumps({"success": False, "error": error}),
        headers=headers,
    )
