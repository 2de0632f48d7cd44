"""The v1 representation of a message: what every v1 route answers, and the OpenAPI schema's source.

Every field is always present, a nullable one as ``null``; timestamps are ISO 8601 UTC with ``Z``.
"""

from datetime import datetime
from typing import TypedDict

from agentmessage.domain.clock import to_iso
from agentmessage.domain.message import Channel, Message, Priority
from agentmessage.domain.status import Status


class V1Cost(TypedDict):
    amount: str  # a decimal string with four places
    currency: str


class V1MessageError(TypedDict):
    code: str
    detail: str


V1Message = TypedDict(
    "V1Message",
    {
        "id": str,
        "from": str,
        "to": str,
        "text": str,
        "channel": Channel,
        "media_urls": list[str],
        "priority": Priority,
        "status": Status,
        "tag": str | None,
        "scheduled_at": str | None,
        "valid_until": str | None,
        "webhook_url": str | None,
        "encoding": str,
        "parts": int,
        "cost": V1Cost,
        "errors": list[V1MessageError],
        "created_at": str,
        "sent_at": str | None,
        "completed_at": str | None,
        "canceled_at": str | None,
    },
)
V1Message.__doc__ = "A message, as every route returns it."


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else to_iso(moment)


def to_v1(message: Message) -> V1Message:
    return {
        "id": message.id,
        "from": message.from_,
        "to": message.to,
        "text": message.text,
        "channel": message.channel,
        "media_urls": list(message.media_urls),
        "priority": message.priority,
        "status": message.status,
        "tag": message.tag,
        "scheduled_at": _iso(message.scheduled_at),
        "valid_until": _iso(message.valid_until),
        "webhook_url": message.webhook_url,
        "encoding": message.encoding,
        "parts": message.parts,
        "cost": {"amount": f"{message.cost.amount:.4f}", "currency": message.cost.currency},
        "errors": [{"code": error.code, "detail": error.detail} for error in message.errors],
        "created_at": to_iso(message.created_at),
        "sent_at": _iso(message.sent_at),
        "completed_at": _iso(message.completed_at),
        "canceled_at": _iso(message.canceled_at),
    }
