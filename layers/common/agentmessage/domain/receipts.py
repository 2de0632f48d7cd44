"""Delivery receipts: what a carrier reports of a sent message, and the one table that maps it.

AWS End User Messaging reports a message's progress as events (``TEXT_*`` for an SMS, ``MEDIA_*``
for an MMS), each with ``isFinal``. Receipts arrive at least once, out of order and duplicated,
and up to 72 hours late, so:

- only a final receipt changes a message, and only forward: ``sent -> delivered`` or
  ``sent -> undelivered`` (a duplicate, or any receipt after the outcome, changes nothing);
- finality comes from the receipt's ``final`` flag, never from its event name (a non-final
  ``TEXT_SUCCESSFUL`` may be followed by a final ``TEXT_DELIVERED``);
- a final receipt that reports no outcome (``UNKNOWN``, AWS's answer after 72 hours without one)
  leaves the message ``sent``, completed and marked unconfirmed; a definite outcome may still
  follow it;
- a receipt for a message whose send is not yet recorded (still ``sending``) is tried again later.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from agentmessage.domain.message import Message, MessageError
from agentmessage.domain.ports import MessageRepository
from agentmessage.domain.status import Change, Status
from agentmessage.observability import MetricUnit, logger, metrics


class Outcome(StrEnum):
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    UNCONFIRMED = "unconfirmed"  # final, with no outcome
    PENDING = "pending"  # on its way: never final


@dataclass(frozen=True, slots=True)
class ReceiptRule:
    outcome: Outcome
    code: str | None = None  # the error an undelivered message carries
    detail: str = ""


def _undelivered(code: str, detail: str) -> ReceiptRule:
    return ReceiptRule(Outcome.UNDELIVERED, code, detail)


# What each kind of receipt means, by the event type's name after its TEXT_ or MEDIA_ prefix.
RECEIPT_RULES: MappingProxyType[str, ReceiptRule] = MappingProxyType(
    {
        "DELIVERED": ReceiptRule(Outcome.DELIVERED),
        # "Depending on the destination country the TEXT_DELIVERED and TEXT_SUCCESSFUL events may be
        # used interchangeably": a final SUCCESSFUL is the last word the carrier gives.
        "SUCCESSFUL": ReceiptRule(Outcome.DELIVERED),
        "QUEUED": ReceiptRule(Outcome.PENDING),
        "PENDING": ReceiptRule(Outcome.PENDING),
        "SENT": ReceiptRule(Outcome.PENDING),
        "UNREACHABLE": _undelivered("DESTINATION_UNREACHABLE", "the recipient's device is unreachable"),
        "CARRIER_UNREACHABLE": _undelivered("CARRIER_UNREACHABLE", "the recipient's carrier is unreachable"),
        "BLOCKED": _undelivered("BLOCKED", "the recipient's device or carrier blocks these messages"),
        "CARRIER_BLOCKED": _undelivered("CARRIER_BLOCKED", "the carrier blocked the message"),
        "SPAM": _undelivered("SPAM", "the carrier flagged the message as spam"),
        "INVALID": _undelivered("INVALID_DESTINATION", "the destination number is invalid"),
        "INVALID_MESSAGE": _undelivered("INVALID_MESSAGE", "the carrier refused the message's body"),
        "TTL_EXPIRED": _undelivered("TTL_EXPIRED", "not delivered within its time to live"),
        "PROTECT_BLOCKED": _undelivered("PROTECT_BLOCKED", "blocked by the account's protect configuration"),
        "FILE_INACCESSIBLE": _undelivered("MEDIA_REFUSED", "the carrier could not read the media file"),
        "FILE_TYPE_UNSUPPORTED": _undelivered("MEDIA_REFUSED", "the carrier refused the media file's type"),
        "FILE_SIZE_EXCEEDED": _undelivered("MEDIA_REFUSED", "the carrier refused the media file's size"),
        "UNKNOWN": ReceiptRule(Outcome.UNCONFIRMED),
    }
)
UNCONFIRMED = MessageError(
    code="DELIVERY_UNCONFIRMED",
    detail="the carrier's last report gives no outcome; delivery is not confirmed",
)
_CHANGES = MappingProxyType(
    {
        Outcome.DELIVERED: Change.RECEIPT_DELIVERED,
        Outcome.UNDELIVERED: Change.RECEIPT_UNDELIVERED,
        Outcome.UNCONFIRMED: Change.RECEIPT_UNCONFIRMED,
    }
)


def rule_for(event_type: str, final: bool) -> ReceiptRule:
    """The rule of a receipt: its event type's, as its finality allows. An event type this table
    does not know, or one that is final though it names a step on the way, confirms nothing."""
    name = event_type.split("_", 1)[1] if event_type.startswith(("TEXT_", "MEDIA_")) else event_type
    rule = RECEIPT_RULES.get(name, ReceiptRule(Outcome.UNCONFIRMED))
    if not final:
        return ReceiptRule(Outcome.PENDING)
    return ReceiptRule(Outcome.UNCONFIRMED) if rule.outcome is Outcome.PENDING else rule


@dataclass(frozen=True, slots=True)
class Receipt:
    """One carrier report of one message, found by the org and message ids the send carried."""

    org_id: str
    message_id: str
    provider_message_id: str  # the carrier's id of the message, as recorded when it was sent
    event_type: str
    final: bool
    at: datetime  # when the carrier reported it


class Applied(StrEnum):
    CHANGED = "changed"  # the message moved (or was marked unconfirmed)
    UNCHANGED = "unchanged"  # nothing to do: on its way, a duplicate, or after the outcome
    RETRY = "retry"  # the send is not recorded yet: try the receipt again later
    UNKNOWN_MESSAGE = "unknown_message"  # no such message in that org, or not this send's


def apply_receipt(receipt: Receipt, *, repository: MessageRepository) -> Applied:
    """Move the message as the receipt says, if it says anything final; one conditional write."""
    rule = rule_for(receipt.event_type, receipt.final)
    extra = {"message_id": receipt.message_id, "event_type": receipt.event_type, "final": receipt.final}
    if rule.outcome is Outcome.PENDING:
        logger.info("receipt: on its way", extra=extra)
        return Applied.UNCHANGED
    error = UNCONFIRMED if rule.outcome is Outcome.UNCONFIRMED else None
    if rule.code is not None:
        error = MessageError(code=rule.code, detail=rule.detail)
    outcome = repository.record_receipt(
        receipt.org_id,
        receipt.message_id,
        _CHANGES[rule.outcome],
        provider_message_id=receipt.provider_message_id,
        at=receipt.at,
        error=error,
    )
    current = outcome.message
    if current is None or current.provider_message_id not in (None, receipt.provider_message_id):
        logger.warning("receipt for no message of its org; dropped", extra=extra)
        metrics.add_metric(name="ReceiptsDropped", unit=MetricUnit.Count, value=1)
        return Applied.UNKNOWN_MESSAGE
    if outcome.won:
        _count(rule.outcome, current)
        logger.info("receipt applied", extra={**extra, "status": current.status.value})
        return Applied.CHANGED
    if current.status in (Status.QUEUED, Status.SENDING):
        logger.info("receipt before its send was recorded; tried again later", extra=extra)
        return Applied.RETRY
    logger.info("receipt changes nothing", extra={**extra, "status": current.status.value})
    return Applied.UNCHANGED


def _count(outcome: Outcome, message: Message) -> None:
    name = {
        Outcome.DELIVERED: "MessagesDelivered",
        Outcome.UNDELIVERED: "MessagesUndelivered",
        Outcome.UNCONFIRMED: "DeliveryUnconfirmed",
    }[outcome]
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    if message.sent_at is not None and message.completed_at is not None:
        delay_ms = max(0.0, (message.completed_at - message.sent_at).total_seconds() * 1000)
        metrics.add_metric(name="DeliveryDelay", unit=MetricUnit.Milliseconds, value=delay_ms)
