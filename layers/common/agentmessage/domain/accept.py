"""Accepting a message: check it against the rules, store it ``queued``, start its dispatch."""

from datetime import datetime, timedelta

from agentmessage.domain import ids
from agentmessage.domain.caller import Caller
from agentmessage.domain.commands import NewMessage, Once
from agentmessage.domain.encoding import segment
from agentmessage.domain.errors import AgentMessageError, ValidationFailed
from agentmessage.domain.message import Message
from agentmessage.domain.ports import MessageRepository, SendTriggers
from agentmessage.domain.rules import problems
from agentmessage.domain.status import Status
from agentmessage.observability import MetricUnit, logger, metrics

# The sweeper re-enqueues a queued message this long after its time, in case its enqueue or
# schedule was lost; a message can never be lost for longer than this plus one sweep interval
# (a minute): 105 s, leaving room for the queue hop inside the two-minute promise. Long enough
# that a schedule firing on time, or an enqueue, is claimed before the sweeper looks.
SWEEP_GRACE = timedelta(seconds=45)


def sweep_due_at(message: Message) -> datetime:
    """When the sweeper should next look at a queued message."""
    due = message.due_at + SWEEP_GRACE
    return min(due, message.valid_until) if message.valid_until else due


def new_message(command: NewMessage, caller: Caller, now: datetime, message_id: str | None = None) -> Message:
    """The message ``command`` describes, as it is stored at acceptance (``queued``)."""
    segmentation = segment(command.text)
    return Message(
        id=message_id or ids.new_message_id(),
        org_id=caller.org_id,
        mode=caller.mode,
        from_=command.from_,
        to=command.to,
        text=command.text,
        channel=command.channel,
        media_urls=command.media_urls,
        priority=command.priority,
        tag=command.tag,
        scheduled_at=command.scheduled_at,
        valid_until=command.valid_until,
        webhook_url=command.webhook_url,
        encoding=segmentation.encoding.value,
        parts=segmentation.parts,
        created_at=now,
        api_version=command.api_version,
    )


def accept_message(
    command: NewMessage,
    caller: Caller,
    *,
    repository: MessageRepository,
    triggers: SendTriggers,
    now: datetime,
    request_key: str | None = None,
) -> Message:
    """Store the message as ``queued``, then start its dispatch: now, or at ``scheduled_at``.

    The message is stored first, so once this returns it cannot be lost: if the enqueue or
    the schedule fails, the sweeper finds the queued message past its time and enqueues it.

    With ``request_key`` (the client's Idempotency-Key), the message and the key's record are stored
    together: a retry of the request, whatever became of the attempt before it (timed out, killed,
    still running), answers the message stored then and stores no other.
    """
    once = Once.of(caller.org_id, request_key, command) if request_key is not None else None
    found = problems(command, mode=caller.mode, now=now)
    if found:
        # A retry of an accepted request is answered as it was, though its schedule has come
        # closer than the rules now allow.
        earlier = repository.created_once(caller.org_id, once) if once is not None else None
        if earlier is not None:
            return earlier
        raise ValidationFailed(found)
    message = new_message(command, caller, now)
    stored = repository.create(message, due_at=sweep_due_at(message), once=once)
    if stored.id == message.id:
        metrics.add_metric(name="MessagesAccepted", unit=MetricUnit.Count, value=1)
        logger.info(
            "message accepted", extra={"message_id": message.id, "scheduled": bool(message.scheduled_at)}
        )
    else:
        logger.info("request key already used: its message answered", extra={"message_id": stored.id})
    if stored.status is Status.QUEUED:
        start_dispatch(stored, repository=repository, triggers=triggers)
    return stored


def start_dispatch(message: Message, *, repository: MessageRepository, triggers: SendTriggers) -> None:
    """Enqueue the message, or schedule it; then note that it is on its way, so the sweeper does
    not offer it again while it may still wait in the queue. Nothing here may fail the request:
    the message is stored, and the sweeper recovers whatever does not happen."""
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
        return
    try:
        repository.postpone(message.org_id, message.id, sweep_due_at(message), enqueued_at=message.due_at)
    except AgentMessageError:
        logger.warning("enqueue not noted; the sweeper may offer it twice", extra={"message_id": message.id})
