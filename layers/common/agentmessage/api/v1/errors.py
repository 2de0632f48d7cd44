"""The v1 error table: each error the service reports, as v1 answers it. The one place for it."""

from dataclasses import dataclass
from http import HTTPStatus
from types import MappingProxyType

from agentmessage.api.errors import (
    BadRequest,
    IdempotencyInProgress,
    RateLimited,
    RouteNotFound,
    Unauthorized,
)
from agentmessage.domain.errors import (
    AgentMessageError,
    MessageNotCancelable,
    MessageNotFound,
    RequestKeyReused,
    ScopeMissing,
    Unavailable,
    ValidationFailed,
)


@dataclass(frozen=True, slots=True)
class V1Error:
    status: HTTPStatus
    code: str
    message: str
    retry_after: int | None = None  # seconds, as the Retry-After header


ERRORS: MappingProxyType[type[AgentMessageError], V1Error] = MappingProxyType(
    {
        BadRequest: V1Error(HTTPStatus.BAD_REQUEST, "BAD_REQUEST", BadRequest.message),
        Unauthorized: V1Error(HTTPStatus.UNAUTHORIZED, "UNAUTHORIZED", Unauthorized.message),
        ScopeMissing: V1Error(HTTPStatus.FORBIDDEN, "FORBIDDEN", ScopeMissing.message),
        MessageNotFound: V1Error(HTTPStatus.NOT_FOUND, "NOT_FOUND", MessageNotFound.message),
        RouteNotFound: V1Error(HTTPStatus.NOT_FOUND, "NOT_FOUND", RouteNotFound.message),
        MessageNotCancelable: V1Error(
            HTTPStatus.CONFLICT, "MESSAGE_NOT_CANCELABLE", MessageNotCancelable.message
        ),
        IdempotencyInProgress: V1Error(
            HTTPStatus.CONFLICT, "IDEMPOTENCY_IN_PROGRESS", IdempotencyInProgress.message, retry_after=1
        ),
        ValidationFailed: V1Error(
            HTTPStatus.UNPROCESSABLE_ENTITY, "VALIDATION_FAILED", ValidationFailed.message
        ),
        RequestKeyReused: V1Error(
            HTTPStatus.UNPROCESSABLE_ENTITY, "IDEMPOTENCY_KEY_REUSED", RequestKeyReused.message
        ),
        RateLimited: V1Error(
            HTTPStatus.TOO_MANY_REQUESTS, "RATE_LIMITED", RateLimited.message, retry_after=1
        ),
        AgentMessageError: V1Error(HTTPStatus.INTERNAL_SERVER_ERROR, "INTERNAL", AgentMessageError.message),
        Unavailable: V1Error(
            HTTPStatus.SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", Unavailable.message, retry_after=2
        ),
    }
)


def v1_error(exc: AgentMessageError | type[AgentMessageError]) -> V1Error:
    """The table's entry for ``exc`` (an error or its class): its class's, or its nearest listed base's."""
    kind = exc if isinstance(exc, type) else type(exc)
    for cls in kind.__mro__:
        entry = ERRORS.get(cls)
        if entry is not None:
            return entry
    return ERRORS[AgentMessageError]
