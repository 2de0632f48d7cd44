"""The message: its fields, its statuses and the transitions between them."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from agentmessage.clock import to_iso

UtcTimestamp = Annotated[datetime, PlainSerializer(to_iso, return_type=str, when_used="always")]


class Status(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELED = "canceled"
    EXPIRED = "expired"


# The status machine of the design. Every change of status is one conditional write whose
# condition is the 'from' side of one of these edges.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.QUEUED: frozenset({Status.SENDING, Status.CANCELED, Status.EXPIRED}),
    # A sandbox carrier confirms delivery in the same call, so sending may end in delivered.
    Status.SENDING: frozenset({Status.SENT, Status.DELIVERED, Status.FAILED, Status.QUEUED}),
    Status.SENT: frozenset({Status.DELIVERED, Status.FAILED}),
    Status.DELIVERED: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELED: frozenset(),
    Status.EXPIRED: frozenset(),
}

TERMINAL = frozenset(status for status, nexts in TRANSITIONS.items() if not nexts)


def can_transition(current: Status, target: Status) -> bool:
    return target in TRANSITIONS[current]


class Channel(StrEnum):
    SMS = "sms"
    MMS = "mms"


class Priority(StrEnum):
    DEFAULT = "default"
    HIGH = "high"


class Mode(StrEnum):
    LIVE = "live"
    TEST = "test"


class Cost(BaseModel):
    model_config = ConfigDict(frozen=True)

    amount: Annotated[Decimal, PlainSerializer(lambda d: f"{d:.4f}", return_type=str)] = Decimal(0)
    currency: str = "USD"


class MessageError(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    detail: str


# Fields kept for the pipeline that the API does not show.
_INTERNAL_FIELDS = frozenset({"org_id", "mode", "attempts", "provider_message_id", "carrier"})


class Message(BaseModel):
    """One message as stored and as returned (less the internal fields)."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    id: str
    org_id: str
    mode: Mode = Mode.TEST
    from_: str = Field(alias="from")
    to: str
    text: str
    channel: Channel = Channel.SMS
    media_urls: list[str] = Field(default_factory=list)
    priority: Priority = Priority.DEFAULT
    status: Status = Status.QUEUED
    tag: str | None = None
    scheduled_at: UtcTimestamp | None = None
    valid_until: UtcTimestamp | None = None
    webhook_url: str | None = None
    encoding: str
    parts: int
    cost: Cost = Field(default_factory=Cost)
    errors: list[MessageError] = Field(default_factory=list)
    created_at: UtcTimestamp
    sent_at: UtcTimestamp | None = None
    completed_at: UtcTimestamp | None = None
    canceled_at: UtcTimestamp | None = None
    attempts: int = 0
    provider_message_id: str | None = None
    carrier: str | None = None

    @property
    def due_at(self) -> datetime:
        """When the message should go out: its schedule, or its creation for an immediate send."""
        return self.scheduled_at or self.created_at

    def to_api(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude=set(_INTERNAL_FIELDS))
