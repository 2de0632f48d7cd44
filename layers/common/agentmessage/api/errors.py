"""Refusals that belong to the HTTP API rather than the domain: the request itself is unusable.

Each surface's error table (``api/v1/errors.py``) gives them a status, a code and a message.
"""

from agentmessage.domain.errors import AgentMessageError


class BadRequest(AgentMessageError):
    """The body is not a JSON object (or not the text it claims to be)."""

    message = "request body must be a JSON object"


class Unauthorized(AgentMessageError):
    """No authenticated caller: the request reached a handler without the authorizer's context."""

    message = "authentication failed"


class RouteNotFound(AgentMessageError):
    message = "no such route"


class IdempotencyInProgress(AgentMessageError):
    """A request with the same Idempotency-Key is still being processed."""

    message = "a request with this Idempotency-Key is still being processed"


class RateLimited(AgentMessageError):
    """Throttled by the API stage (answered by API Gateway itself; listed for the error tables)."""

    message = "too many requests"
