"""Reading one message of the caller's org."""

from agentmessage.domain import ids
from agentmessage.domain.caller import Caller
from agentmessage.domain.errors import MessageNotFound
from agentmessage.domain.message import Message
from agentmessage.domain.ports import MessageRepository


def get_message(caller: Caller, message_id: str, *, repository: MessageRepository) -> Message:
    """The message, or ``MessageNotFound`` (a malformed id, or another org's message, alike)."""
    if not ids.is_message_id(message_id):
        raise MessageNotFound()
    message = repository.get(caller.org_id, message_id)
    if message is None:
        raise MessageNotFound()
    return message
