"""What starts a dispatch, as interfaces: the queue for now, a one-time schedule for later."""

from datetime import datetime
from typing import Protocol


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
