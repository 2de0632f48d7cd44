"""AWS End User Messaging's event records (what a configuration set's SNS destination publishes),
read into the domain's receipts, and written in the same shape by the sandbox.

A record is one JSON object: ``eventType`` (``TEXT_*``, ``MEDIA_*``), ``isFinal``,
``eventTimestamp`` (Unix milliseconds), ``messageId`` (the id SendTextMessage answered),
``context`` (the Context the send carried: the org and message ids), and more the receipts do not
need (numbers, prices, the carrier's name). Only what a receipt needs is read; a record without a
context of ours is not a receipt of ours.
"""

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentmessage.domain.receipts import Receipt

CONTEXT_ORG = "org_id"
CONTEXT_MESSAGE = "message_id"


class _Context(BaseModel):
    model_config = ConfigDict(extra="ignore")

    org_id: str = Field(min_length=1, max_length=800)
    message_id: str = Field(min_length=1, max_length=800)


class EventRecord(BaseModel):
    """The fields of an event record a receipt is made of."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    event_type: str = Field(alias="eventType", min_length=1, max_length=64)
    is_final: bool = Field(alias="isFinal", strict=True)
    event_timestamp: int = Field(alias="eventTimestamp", ge=0)
    message_id: str = Field(alias="messageId", min_length=1, max_length=128)
    context: _Context | None = None


class NotAReceipt(Exception):
    """The record is not an event record of a message this service sent (malformed, or its
    context missing or foreign). Its text is never repeated: it holds numbers."""


def read_receipt(body: str) -> Receipt:
    """The receipt an SQS body (an SNS message, delivered raw) holds, or ``NotAReceipt``."""
    try:
        record = EventRecord.model_validate_json(body)
    except ValidationError:
        raise NotAReceipt("not an End User Messaging event record") from None
    if record.context is None:
        raise NotAReceipt("an event record without this service's context")
    return Receipt(
        org_id=record.context.org_id,
        message_id=record.context.message_id,
        provider_message_id=record.message_id,
        event_type=record.event_type,
        final=record.is_final,
        at=datetime.fromtimestamp(record.event_timestamp / 1000, UTC),
    )


def event_record(
    *,
    event_type: str,
    final: bool,
    at: datetime,
    provider_message_id: str,
    org_id: str,
    message_id: str,
    origination: str,
    destination: str,
    encoding: str,
    parts: int,
    status_description: str,
) -> dict[str, Any]:
    """An event record as End User Messaging publishes it, with this service's context."""
    milliseconds = int(at.timestamp() * 1000)
    return {
        "eventType": event_type,
        "eventVersion": "1.0",
        "eventTimestamp": milliseconds,
        "isFinal": final,
        "originationPhoneNumber": origination,
        "destinationPhoneNumber": destination,
        "isoCountryCode": "US",
        "isInternationalSend": False,
        "messageId": provider_message_id,
        "messageRequestTimestamp": milliseconds,
        "messageEncoding": "GSM" if encoding == "GSM-7" else "UNICODE",
        "messageType": "TRANSACTIONAL",
        "messageStatus": event_type.split("_", 1)[1],
        "messageStatusDescription": status_description,
        "context": {CONTEXT_ORG: org_id, CONTEXT_MESSAGE: message_id},
        "totalMessageParts": parts,
        "totalMessagePrice": 0.0,
        "totalCarrierFee": 0.0,
    }
