"""The sandbox carrier: deterministic outcomes by destination number, no network.

Used with test keys and by the local stack. The numbers come from the NANP range reserved for
fictional use (555-0100 to 555-0199), so none of them can reach a real phone. A send the sandbox
accepts is ``sent``; once the dispatcher has recorded it, the sandbox publishes the number's
receipts, shaped as AWS End User Messaging's event records with the same context, to the receipts
topic (``ReceiptPublisher``), so ``delivered`` and ``undelivered`` arrive as they do in production:
later, through the receipts queue and the receipt function.
"""

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol

from agentmessage.carriers.base import (
    CarrierError,
    OutboundMessage,
    PermanentCarrierError,
    RetryableCarrierError,
    SendResult,
    TimeLeft,
    no_time_limit,
)
from agentmessage.carriers.receipt_events import event_record
from agentmessage.domain import clock
from agentmessage.domain.errors import AgentMessageError
from agentmessage.observability import logger

Step = tuple[str, bool]  # a receipt: its status (the event type after TEXT_ or MEDIA_), and whether final
ON_ITS_WAY: Step = ("PENDING", False)


@dataclass(frozen=True, slots=True)
class SandboxOutcome:
    """What the sandbox answers for one destination number: the send's, then the receipts'."""

    description: str
    error_code: str | None = None  # the send fails with this code
    retryable: bool = False  # the failure is a RetryableCarrierError
    failing_attempts: int | None = None  # attempts 1..n fail, later ones succeed; None: every one fails
    receipts: tuple[Step, ...] = (ON_ITS_WAY, ("DELIVERED", True))  # once sent; () for none ever

    def error_for(self, attempt: int) -> CarrierError | None:
        """The error a send on this ``attempt`` raises, or ``None`` when it is accepted."""
        if self.error_code is None:
            return None
        if self.failing_attempts is not None and attempt > self.failing_attempts:
            return None
        if self.retryable:
            return RetryableCarrierError(self.error_code, f"sandbox: {self.description}")
        return PermanentCarrierError(self.error_code, f"sandbox: {self.description}")


DEFAULT_OUTCOME = SandboxOutcome("any number not in the table: sent, then a receipt says delivered")

SANDBOX_NUMBERS: Mapping[str, SandboxOutcome] = MappingProxyType(
    {
        "+15555550101": SandboxOutcome(
            "the destination is unreachable: the send fails (permanent)",
            error_code="DESTINATION_UNREACHABLE",
        ),
        "+15555550102": SandboxOutcome(
            "throttled on the first attempt (retryable), then sent and delivered",
            error_code="CARRIER_THROTTLED",
            retryable=True,
            failing_attempts=1,
        ),
        "+15555550103": SandboxOutcome("sent, and no receipt ever arrives", receipts=()),
        "+15555550104": SandboxOutcome(
            "the recipient has opted out: the send fails (permanent)",
            error_code="DESTINATION_OPTED_OUT",
        ),
        "+15555550105": SandboxOutcome(
            "sent, then a receipt says undelivered: the device is unreachable",
            receipts=(ON_ITS_WAY, ("UNREACHABLE", True)),
        ),
        "+15555550106": SandboxOutcome(
            "sent, then a receipt says undelivered: blocked by the device or carrier",
            receipts=(("BLOCKED", True),),
        ),
        "+15555550107": SandboxOutcome(
            "sent, then a final receipt with no outcome: delivery unconfirmed",
            receipts=(ON_ITS_WAY, ("UNKNOWN", True)),
        ),
    }
)

_DESCRIPTIONS = MappingProxyType(
    {
        "PENDING": "Message is being delivered",
        "DELIVERED": "Message has been accepted by phone",
        "UNREACHABLE": "Phone is currently unreachable/unavailable",
        "BLOCKED": "Phone has blocked SMS",
        "UNKNOWN": "Unknown error attempting to reach phone",
    }
)


def outcome_for(destination: str) -> SandboxOutcome:
    """The table entry for ``destination``, or the default (delivered)."""
    return SANDBOX_NUMBERS.get(destination, DEFAULT_OUTCOME)


class ReceiptPublisher(Protocol):
    def publish(self, records: list[dict[str, Any]]) -> None:
        """Put each event record on the receipts topic, as End User Messaging would."""


class SandboxCarrier:
    """A carrier that answers from ``SANDBOX_NUMBERS`` and records every message it accepts.

    Stateless about outcomes (a retry is told apart by ``OutboundMessage.attempt``), so one
    instance can serve concurrent sends. ``accepted`` lists the messages the sandbox took, in
    order; a send that raises is not recorded.
    """

    name: str = "sandbox"

    def __init__(self, receipts: ReceiptPublisher | None = None) -> None:
        self._lock = threading.Lock()
        self._receipts = receipts
        self.accepted: list[OutboundMessage] = []

    def send(self, message: OutboundMessage, *, time_left: TimeLeft = no_time_limit) -> SendResult:
        error = outcome_for(message.to).error_for(message.attempt)
        if error is not None:
            raise error
        with self._lock:
            self.accepted.append(message)
        return SendResult(provider_message_id=provider_id(message))

    def recorded(self, message: OutboundMessage, result: SendResult) -> None:
        """Publish the number's receipts for the recorded send; nothing without a publisher."""
        steps = outcome_for(message.to).receipts
        if self._receipts is None or not steps:
            return
        records = receipt_records(message, result, steps, clock.utc_now())
        try:
            self._receipts.publish(records)
        except AgentMessageError:
            # As a carrier whose receipts never come: the message stays sent.
            logger.warning("sandbox receipts not published", extra={"message_id": message.message_id})

    def times_accepted(self, message_id: str) -> int:
        """How many times the message with ``message_id`` was accepted (at most once, if all is well)."""
        with self._lock:
            return sum(1 for message in self.accepted if message.message_id == message_id)


def provider_id(message: OutboundMessage) -> str:
    return f"sandbox-{message.message_id}"


def receipt_records(
    message: OutboundMessage, result: SendResult, steps: tuple[Step, ...], at: datetime
) -> list[dict[str, Any]]:
    """The event records of ``steps``, as End User Messaging writes them for this message."""
    prefix = "MEDIA_" if message.channel == "mms" else "TEXT_"
    return [
        event_record(
            event_type=prefix + status,
            final=final,
            at=at,
            provider_message_id=result.provider_message_id,
            org_id=message.org_id,
            message_id=message.message_id,
            origination=message.from_,
            destination=message.to,
            encoding=message.encoding,
            parts=message.parts,
            status_description=_DESCRIPTIONS.get(status, status),
        )
        for status, final in steps
    ]
