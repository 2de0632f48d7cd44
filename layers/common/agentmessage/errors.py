"""Domain errors. Raised anywhere; turned into the response envelope in one place (``api.py``)."""

from collections.abc import Mapping
from http import HTTPStatus


class AgentMessageError(Exception):
    """Base of every error the API reports. ``code`` and ``status`` define the response."""

    code = "INTERNAL"
    status = HTTPStatus.INTERNAL_SERVER_ERROR
    message = "internal error"
    retry_after: int | None = None

    def __init__(self, message: str | None = None, details: Mapping[str, str] | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = dict(details) if details else None


class BadRequest(AgentMessageError):
    code = "BAD_REQUEST"
    status = HTTPStatus.BAD_REQUEST
    message = "request body must be a JSON object"


class Unauthorized(AgentMessageError):
    code = "UNAUTHORIZED"
    status = HTTPStatus.UNAUTHORIZED
    message = "authentication failed"


class Forbidden(AgentMessageError):
    code = "FORBIDDEN"
    status = HTTPStatus.FORBIDDEN
    message = "missing required scope"


class MessageNotFound(AgentMessageError):
    code = "NOT_FOUND"
    status = HTTPStatus.NOT_FOUND
    message = "message not found"


class RouteNotFound(AgentMessageError):
    code = "NOT_FOUND"
    status = HTTPStatus.NOT_FOUND
    message = "no such route"


class MessageNotCancelable(AgentMessageError):
    code = "MESSAGE_NOT_CANCELABLE"
    status = HTTPStatus.CONFLICT
    message = "message is not cancelable"


class IdempotencyInProgress(AgentMessageError):
    code = "IDEMPOTENCY_IN_PROGRESS"
    status = HTTPStatus.CONFLICT
    message = "a request with this Idempotency-Key is still being processed"
    retry_after = 1


class ValidationFailed(AgentMessageError):
    code = "VALIDATION_FAILED"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    message = "validation failed"


class IdempotencyKeyReused(AgentMessageError):
    code = "IDEMPOTENCY_KEY_REUSED"
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    message = "this Idempotency-Key was used with a different request body"


class RateLimited(AgentMessageError):
    code = "RATE_LIMITED"
    status = HTTPStatus.TOO_MANY_REQUESTS
    message = "too many requests"
    retry_after = 1


class ServiceUnavailable(AgentMessageError):
    """A dependency is throttling or down; the request may be retried."""

    code = "SERVICE_UNAVAILABLE"
    status = HTTPStatus.SERVICE_UNAVAILABLE
    message = "service temporarily unavailable"
    retry_after = 2
