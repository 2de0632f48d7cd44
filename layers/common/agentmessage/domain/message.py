"""The message as the domain knows it: what was accepted, where it stands, what it cost.

Plain frozen dataclasses: storage maps them to items (``integration``), each API surface to its
own representation (``api/v1``), and a change is a new value (``dataclasses.replace``).
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from agentmessage.domain.status import Status


class Channel(StrEnum):
    SMS = "sms"
    MMS = "mms"


class Priority(StrEnum):
    DEFAULT = "default"
    HIGH = "high"


class Mode(StrEnum):
    LIVE = "live"
    TEST = "test"


class ApiVersion(StrEnum):
    """The surface that accepted a message, so its events speak that surface's language."""

    V1 = "v1"


@dataclass(frozen=True, slots=True)
class Cost:
    amount: Decimal = Decimal(0)
    currency: str = "USD"


@dataclass(frozen=True, slots=True)
class MessageError:
    code: str
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One message, as stored."""

    id: str
    org_id: str
    mode: Mode = Mode.TEST
    from_: str
    to: str
    text: str
    channel: Channel = Channel.SMS
    media_urls: tuple[str, ...] = ()
    priority: Priority = Priority.DEFAULT
    status: Status = Status.QUEUED
    tag: str | None = None
    scheduled_at: datetime | None = None
    valid_until: datetime | None = None
    webhook_url: str | None = None
    encoding: str
    parts: int
    cost: Cost = field(default_factory=Cost)
    errors: tuple[MessageError, ...] = ()
    created_at: datetime
    sent_at: datetime | None = None
    completed_at: datetime | None = None
    canceled_at: datetime | None = None
    api_version: ApiVersion = ApiVersion.V1
    # Kept for the pipeline; no surface shows them.
    attempts: int = 0
    provider_message_id: str | None = None
    carrier: str | None = None

    @property
    def due_at(self) -> datetime:
        """When the message should go out: its schedule, or its creation for an immediate send."""
        return self.scheduled_at or self.created_at
