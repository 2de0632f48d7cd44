"""Errors the service reports, with no HTTP in them.

Raised anywhere; each API surface turns them into its own answer through one table
(``api/v1/errors.py``), so the same refusal reads as that surface's error format.
"""

from collections.abc import Mapping


class AgentMessageError(Exception):
    """Base of every error the service reports; anything not more specific is a bug."""

    message = "internal error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        self.explicit_message = message  # a more specific text than the surface's default, if any
        self.message = message or self.message


class MessageNotFound(AgentMessageError):
    """No such message in the caller's org (another org's message included)."""

    message = "message not found"


class MessageNotCancelable(AgentMessageError):
    """Cancel on a message that is no longer queued (and not already canceled)."""

    message = "message is not cancelable"


class ScopeMissing(AgentMessageError):
    """The caller's key lacks the scope the operation needs."""

    message = "missing required scope"


class ValidationFailed(AgentMessageError):
    """The command breaks a rule; ``details`` names each field once, with what is wrong."""

    message = "validation failed"

    def __init__(self, details: Mapping[str, str], message: str | None = None) -> None:
        super().__init__(message)
        self.details = dict(details)


class RequestKeyReused(AgentMessageError):
    """The same request key (Idempotency-Key) came with a different request."""

    message = "this Idempotency-Key was used with a different request body"


class Unavailable(AgentMessageError):
    """A dependency is throttling or down; the same request may succeed if tried again."""

    message = "service temporarily unavailable"


class UnreadableRecord(AgentMessageError):
    """A stored record does not read as what it should be (a bug, or corrupted data)."""
