"""What the use cases need from the outside world, as interfaces: storage and dispatch triggers.

Implementations: ``integration.messages_table`` and ``integration.dispatch_triggers`` on AWS, and
in tests anything with the same methods (the contract suite holds the in-memory repository to the
DynamoDB one).
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from agentmessage.domain.commands import Once
from agentmessage.domain.message import Message, MessageError
from agentmessage.domain.status import Change, Status


@dataclass(frozen=True, slots=True)
class Transition:
    """The outcome of one conditional status change.

    ``won``: the condition held and ``message`` is the message after the change. Otherwise
    ``message`` is the message as it was (``None`` when there is no such message), read from the
    failed write itself, so a lost race needs no second read.
    """

    won: bool
    message: Message | None


@dataclass(frozen=True, slots=True)
class DueEntry:
    """One row of the due index: a message the sweeper must look at."""

    org_id: str
    id: str
    status: Status
    due_at: datetime
    valid_until: datetime | None
    enqueued_at: datetime | None = None  # when an enqueue of it is known to have succeeded


@dataclass(frozen=True, slots=True)
class DuePage:
    entries: list[DueEntry]
    next_token: dict[str, Any] | None
    unreadable: int = 0  # index rows that could not be read as entries (left out, reported)


class MessageRepository(Protocol):
    def create(self, message: Message, due_at: datetime, once: Once | None = None) -> Message:
        """Store a new ``queued`` message, for the sweeper from ``due_at``; answers it.

        With ``once``, the message and the request key's record are stored together, or not at all:
        a key already recorded answers the message stored under it instead (``RequestKeyReused``
        when it was recorded for another request). A write resent after its answer was lost is
        recognised as itself."""

    def created_once(self, org_id: str, once: Once) -> Message | None:
        """The message stored under ``once``'s key, if any (``RequestKeyReused`` for another request)."""

    def get(self, org_id: str, message_id: str) -> Message | None: ...

    def cancel(self, org_id: str, message_id: str, now: datetime) -> Transition:
        """queued -> canceled."""

    def claim(self, org_id: str, message_id: str, now: datetime, lease_until: datetime) -> Transition:
        """queued -> sending, when the message is due and not past ``valid_until``; counts an attempt."""

    def expire(self, org_id: str, message_id: str, now: datetime) -> Transition:
        """queued -> expired, when ``valid_until`` has passed."""

    def release(self, org_id: str, message_id: str, due_at: datetime) -> Transition:
        """sending -> queued, after a carrier refused the message with a retryable error."""

    def record_sent(
        self,
        org_id: str,
        message_id: str,
        *,
        now: datetime,
        provider_message_id: str,
        carrier: str,
        cost: Decimal,
    ) -> Transition:
        """sending -> sent: the carrier took it, as ``provider_message_id``."""

    def record_failed(
        self,
        org_id: str,
        message_id: str,
        *,
        now: datetime,
        errors: list[MessageError],
        lease_expired: bool = False,
    ) -> Transition:
        """sending -> failed. With ``lease_expired`` (the sweeper), only once the claim's lease has
        passed on the item itself: the carrier may have the message, so it is never sent again."""

    def record_receipt(
        self,
        org_id: str,
        message_id: str,
        change: Change,
        *,
        provider_message_id: str,
        at: datetime,
        error: MessageError | None,
    ) -> Transition:
        """A final receipt's ``change`` (``RECEIPT_*``) of the message sent as ``provider_message_id``:
        completed ``at``, with ``error`` as its one error (none once delivered). An unconfirmed
        outcome is recorded once; a definite one may follow it."""

    def postpone(
        self, org_id: str, message_id: str, due_at: datetime, enqueued_at: datetime | None = None
    ) -> Transition:
        """queued stays queued, next looked at ``due_at``; with ``enqueued_at``, an enqueue of it is
        known to have succeeded then (so the sweeper knows it may still be waiting in the queue)."""

    def due(self, shard: int, now: datetime, limit: int, token: dict[str, Any] | None) -> DuePage:
        """One page of the due index for ``shard``: entries due at or before ``now``."""


class SendTriggers(Protocol):
    def enqueue(self, org_id: str, message_id: str) -> None:
        """Put ``{org_id, id}`` on the dispatch queue."""

    def schedule(self, org_id: str, message_id: str, at: datetime) -> None:
        """Create a one-time schedule that puts ``{org_id, id}`` on the dispatch queue at ``at``."""


class ScheduleCanceller(Protocol):
    def unschedule(self, message_id: str) -> None:
        """Delete the message's schedule; one already gone is fine."""


class Requeue(Protocol):
    def enqueue_many(self, entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Put up to ten ``(org_id, id)`` on the dispatch queue; returns those the queue took."""

    def backlog(self) -> int:
        """About how many messages wait on the dispatch queue, not yet received."""
