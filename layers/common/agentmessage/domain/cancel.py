"""Canceling a queued message: one conditional write decides it, against any dispatch."""

from datetime import datetime

from agentmessage.domain import ids
from agentmessage.domain.caller import Caller
from agentmessage.domain.errors import AgentMessageError, MessageNotCancelable, MessageNotFound
from agentmessage.domain.message import Message
from agentmessage.domain.ports import MessageRepository, ScheduleCanceller
from agentmessage.domain.status import Status
from agentmessage.observability import MetricUnit, logger, metrics


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
