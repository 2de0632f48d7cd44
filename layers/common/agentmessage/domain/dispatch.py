"""Handing one message to its carrier, at most once.

The claim (``queued -> sending``, one conditional write) decides who sends: a canceled, expired
or already claimed message is skipped, so a duplicate queue delivery or a schedule that fires
twice reaches the carrier once, and a cancel that wins the race is never sent.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from agentmessage.carriers.base import Carrier, CarrierError, OutboundMessage
from agentmessage.domain.message import Channel, Message, MessageError, Mode
from agentmessage.domain.ports import MessageRepository
from agentmessage.domain.status import Status
from agentmessage.observability import MetricUnit, logger, metrics

# A carrier that refused with a retryable error is tried again after this long at the latest.
RETRY_DELAY = timedelta(seconds=60)


class Outcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"
    SKIPPED = "skipped"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class Pricing:
    sms_per_part: Decimal
    mms_per_part: Decimal

    def cost(self, message: Message) -> Decimal:
        price = self.mms_per_part if message.channel is Channel.MMS else self.sms_per_part
        return price * message.parts


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    lease: timedelta
    max_attempts: int
    pricing: Pricing


CarrierFor = Callable[[Mode], Carrier]
TimeLeft = Callable[[], float]  # seconds left in the invocation that handles the message


def no_time_limit() -> float:
    return math.inf


def _outbound(message: Message) -> OutboundMessage:
    return OutboundMessage(
        message_id=message.id,
        org_id=message.org_id,
        from_=message.from_,
        to=message.to,
        text=message.text,
        channel=message.channel.value,
        media_urls=tuple(message.media_urls),
        attempt=message.attempts,
        encoding=message.encoding,
        parts=message.parts,
    )


def _not_claimed(
    repository: MessageRepository, org_id: str, message_id: str, current: Message | None, now: datetime
) -> Outcome:
    if current is None:
        logger.warning("dispatch for an unknown message", extra={"message_id": message_id})
        return Outcome.SKIPPED
    if current.status is Status.QUEUED and current.valid_until is not None and current.valid_until <= now:
        if repository.expire(org_id, message_id, now).won:
            metrics.add_metric(name="MessagesExpired", unit=MetricUnit.Count, value=1)
            logger.info("message expired", extra={"message_id": message_id})
            return Outcome.EXPIRED
    logger.info("dispatch skipped", extra={"message_id": message_id, "status": current.status.value})
    return Outcome.SKIPPED


def dispatch_message(
    org_id: str,
    message_id: str,
    *,
    repository: MessageRepository,
    carrier_for: CarrierFor,
    policy: DispatchPolicy,
    now: Callable[[], datetime],
    time_left: TimeLeft = no_time_limit,
) -> Outcome:
    """Claim the message, hand it to its mode's carrier, record the outcome. ``time_left`` is passed
    to the carrier, which starts a send only with the time to finish and record it."""
    claimed_at = now()
    claim = repository.claim(org_id, message_id, claimed_at, lease_until=claimed_at + policy.lease)
    if not claim.won or claim.message is None:
        return _not_claimed(repository, org_id, message_id, claim.message, claimed_at)
    message = claim.message
    carrier = carrier_for(message.mode)
    outbound = _outbound(message)
    try:
        result = carrier.send(outbound, time_left=time_left)
    except CarrierError as error:
        return _refused(repository, message, error, policy, now())
    sent_at = now()
    recorded = repository.record_sent(
        org_id,
        message_id,
        now=sent_at,
        provider_message_id=result.provider_message_id,
        carrier=carrier.name,
        cost=policy.pricing.cost(message),
    )
    if recorded.won:
        carrier.recorded(outbound, result)  # the carrier's receipts may follow now
    else:  # only a lease-expired sweep can get here first; the carrier has it anyway
        logger.error("sent message was no longer sending", extra={"message_id": message_id})
    metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
    delay_ms = max(0.0, (sent_at - message.due_at).total_seconds() * 1000)
    metrics.add_metric(name="SendDelay", unit=MetricUnit.Milliseconds, value=delay_ms)
    logger.info("message sent", extra={"message_id": message_id, "carrier": carrier.name})
    return Outcome.SENT


def _refused(
    repository: MessageRepository,
    message: Message,
    error: CarrierError,
    policy: DispatchPolicy,
    now: datetime,
) -> Outcome:
    extra = {"message_id": message.id, "code": error.code, "attempt": message.attempts}
    if error.retryable and message.attempts < policy.max_attempts:
        if repository.release(message.org_id, message.id, due_at=now + RETRY_DELAY).won:
            logger.warning("carrier refused, will retry", extra=extra)
            return Outcome.RETRY
    failed = repository.record_failed(
        message.org_id,
        message.id,
        now=now,
        errors=[MessageError(code=error.code, detail=error.detail)],
    )
    if failed.won:
        metrics.add_metric(name="MessagesFailed", unit=MetricUnit.Count, value=1)
        logger.warning("message failed", extra=extra)
    else:  # a release retried after it was applied, or a sweep that failed it first
        logger.warning("message was no longer sending", extra=extra)
    return Outcome.FAILED
