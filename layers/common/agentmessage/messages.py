"""The message use cases behind the API: accept, get, cancel. No AWS SDK here: storage and
triggers come in as interfaces."""

from datetime import datetime, timedelta

from agentmessage import ids
from agentmessage.auth import Caller
from agentmessage.carriers.base import LIVE_MEDIA_LIMIT
from agentmessage.encoding import segment
from agentmessage.errors import AgentMessageError, MessageNotCancelable, MessageNotFound, ValidationFailed
from agentmessage.model import Message, Mode, Status
from agentmessage.observability import MetricUnit, logger, metrics
from agentmessage.repository import MessageRepository
from agentmessage.requests import SendMessageRequest
from agentmessage.triggers import ScheduleCanceller, SendTriggers

# The sweeper re-enqueues a queued message this long after its time, in case its enqueue or
# schedule was lost; a message can never be lost for longer than this plus one sweep interval
# (a minute): 105 s, leaving room for the queue hop inside the two-minute promise. Long enough
# that a schedule firing on time, or an enqueue, is claimed before the sweeper looks.
SWEEP_GRACE = timedelta(seconds=45)


def sweep_due_at(message: Message) -> datetime:
    """When the sweeper should next look at a queued message."""
    due = message.due_at + SWEEP_GRACE
    return min(due, message.valid_until) if message.valid_until else due


def _check_carrier_limits(request: SendMessageRequest, caller: Caller) -> None:
    if caller.mode is Mode.LIVE and request.media_urls and len(request.media_urls) > LIVE_MEDIA_LIMIT:
        raise ValidationFailed(details={"media_urls": f"a live mms carries {LIVE_MEDIA_LIMIT} media URL"})


def new_message(request: SendMessageRequest, caller: Caller, now: datetime) -> Message:
    text = request.message_text
    segmentation = segment(text)
    return Message(
        id=ids.new_message_id(),
        org_id=caller.org_id,
        mode=caller.mode,
        from_=request.from_,
        to=request.to,
        text=text,
        channel=request.channel,
        media_urls=list(request.media_urls or []),
        priority=request.priority,
        tag=request.tag,
        scheduled_at=request.scheduled_at,
        valid_until=request.valid_until,
        webhook_url=request.webhook_url,
        encoding=segmentation.encoding.value,
        parts=segmentation.parts,
        created_at=now,
    )


def accept_message(
    request: SendMessageRequest,
    caller: Caller,
    *,
    repository: MessageRepository,
    triggers: SendTriggers,
    now: datetime,
) -> Message:
    """Store the message as ``queued``, then start its dispatch: now, or at ``scheduled_at``.

    The message is stored first, so once this returns it cannot be lost: if the enqueue or
    the schedule fails, the sweeper finds the queued message past its time and enqueues it.
    """
    _check_carrier_limits(request, caller)
    message = new_message(request, caller, now)
    repository.create(message, due_at=sweep_due_at(message))
    metrics.add_metric(name="MessagesAccepted", unit=MetricUnit.Count, value=1)
    try:
        if message.scheduled_at is None:
            triggers.enqueue(message.org_id, message.id)
        else:
            triggers.schedule(message.org_id, message.id, message.scheduled_at)
    except AgentMessageError:
        logger.warning(
            "dispatch trigger failed; the sweeper will recover it", extra={"message_id": message.id}
        )
        metrics.add_metric(name="DispatchTriggerFailed", unit=MetricUnit.Count, value=1)
    logger.info("message accepted", extra={"message_id": message.id, "scheduled": bool(message.scheduled_at)})
    return message


def get_message(caller: Caller, message_id: str, *, repository: MessageRepository) -> Message:
    if not ids.is_message_id(message_id):
        raise MessageNotFound()
    message = repository.get(caller.org_id, message_id)
    if message is None:
        raise MessageNotFound()
    return message


def cancel_message(
    caller: Caller,
    message_id: str,
    *,
    repository: MessageRepository,
    schedules: ScheduleCanceller,
    now: datetime,
) -> Message:
    """queued -> canceled, in one conditional write. Canceling a canceled message answers it again."""
    if not ids.is_message_id(message_id):
        raise MessageNotFound()
    outcome = repository.cancel(caller.org_id, message_id, now)
    if outcome.message is None:
        raise MessageNotFound()
    if not outcome.won:
        if outcome.message.status is Status.CANCELED:
            return outcome.message
        raise MessageNotCancelable()
    metrics.add_metric(name="MessagesCanceled", unit=MetricUnit.Count, value=1)
    logger.info("message canceled", extra={"message_id": message_id})
    if outcome.message.scheduled_at is not None:
        try:
            schedules.unschedule(message_id)
        except AgentMessageError:
            # The dispatcher's claim refuses a canceled message, so a leftover schedule is harmless.
            logger.warning("schedule not deleted", extra={"message_id": message_id})
    return outcome.message
