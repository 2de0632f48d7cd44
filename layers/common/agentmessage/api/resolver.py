"""The HTTP plumbing every surface shares: one resolver whose every answer is the surface's format.

A surface (``api/v1``) brings a ``Renderer``: how a refusal looks in its error format. The
resolver's error boundary hands it every error, so a second surface adds a renderer, not a copy
of the resolver.
"""

from typing import Any, Protocol

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from agentmessage.api.errors import BadRequest, RouteNotFound
from agentmessage.domain.errors import AgentMessageError, Unavailable, UnreadableRecord
from agentmessage.observability import logger

JSON = "application/json"


class Renderer(Protocol):
    def error(self, exc: AgentMessageError, request_id: str) -> Response[str]:
        """The surface's answer to ``exc``."""

    def dumps(self, body: Any) -> str:
        """The surface's JSON."""


def build_resolver(renderer: Renderer) -> APIGatewayRestResolver:
    """A REST-proxy resolver whose every answer, error or not, is in ``renderer``'s format."""
    app = APIGatewayRestResolver(serializer=renderer.dumps)

    @app.exception_handler(AgentMessageError)
    def _refused(exc: AgentMessageError) -> Response[str]:
        if isinstance(exc, Unavailable):
            _log_dependency_failure(exc)
        elif isinstance(exc, UnreadableRecord) or type(exc) is AgentMessageError:
            logger.exception("unhandled error", extra={"error_type": type(exc).__name__})
        return renderer.error(exc, request_id(app))

    @app.not_found
    def _no_route(_: NotFoundError) -> Response[str]:
        return renderer.error(RouteNotFound(), request_id(app))

    @app.exception_handler(Exception)
    def _bug(exc: Exception) -> Response[str]:
        logger.exception("unhandled error", extra={"error_type": type(exc).__name__})
        return renderer.error(AgentMessageError(), request_id(app))

    return app


def _log_dependency_failure(exc: AgentMessageError) -> None:
    """Which dependency failed and how: the cause's type and AWS error code, never its message."""
    cause = exc.__cause__
    response = getattr(cause, "response", None)
    aws_code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    logger.warning(
        "request failed on a dependency",
        extra={
            "error": type(exc).__name__,
            "cause": type(cause).__name__ if cause else None,
            "aws_error": aws_code,
        },
    )


def request_id(app: APIGatewayRestResolver) -> str:
    return str(app.current_event.request_context.request_id or "")


def request_body(app: APIGatewayRestResolver) -> str | None:
    """The body as text; one that is not the base64 or UTF-8 it claims to be is ``BadRequest``."""
    try:
        return app.current_event.decoded_body
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise BadRequest() from exc
