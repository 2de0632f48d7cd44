"""Send bodies and stored messages for the tests: one valid body, one way to seed the Messages table."""

from datetime import datetime, timedelta
from typing import Any

from agentmessage.domain import clock, ids
from agentmessage.domain.message import Channel, Message, Mode
from agentmessage.domain.status import Status
from agentmessage.integration.messages_table import DynamoMessageRepository

ORG = "org_a"
OTHER_ORG = "org_b"
SENDER = "+15555550100"
RECIPIENT = "+15555550123"
TEXT = "Your code is 123456"

# Every field the API shows for a message, and nothing else.
API_FIELDS = {
    "id", "from", "to", "text", "channel", "media_urls", "priority", "status", "tag", "scheduled_at",
    "valid_until", "webhook_url", "encoding", "parts", "cost", "errors", "created_at", "sent_at",
    "completed_at", "canceled_at",
}  # fmt: skip
ZERO_COST = {"amount": "0.0000", "currency": "USD"}


def send_body(**overrides: Any) -> dict[str, Any]:
    """A valid ``POST /v1/messages`` body; ``from_`` overrides ``from``."""
    body: dict[str, Any] = {"from": SENDER, "to": RECIPIENT, "text": TEXT}
    if "from_" in overrides:
        body["from"] = overrides.pop("from_")
    body.update(overrides)
    return body


def without(body: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: value for name, value in body.items() if name not in names}


def iso_in(delta: timedelta) -> str:
    return clock.to_iso(clock.utc_now() + delta)


def a_message(
    *,
    message_id: str | None = None,
    org_id: str = ORG,
    to: str = RECIPIENT,
    text: str = TEXT,
    status: Status = Status.QUEUED,
    created_at: datetime | None = None,
    scheduled_at: datetime | None = None,
    valid_until: datetime | None = None,
    channel: Channel = Channel.SMS,
    parts: int = 1,
    mode: Mode = Mode.TEST,
    attempts: int = 0,
    **fields: Any,
) -> Message:
    """A message as acceptance stores it (GSM-7, ``parts`` parts, created now by the functions'
    clock), in any status; ``fields`` sets any other field of the message."""
    return Message(
        id=message_id or ids.new_message_id(),
        org_id=org_id,
        mode=mode,
        from_=SENDER,
        to=to,
        text=text,
        channel=channel,
        media_urls=("https://example.com/cat.png",) if channel is Channel.MMS else (),
        status=status,
        scheduled_at=scheduled_at,
        valid_until=valid_until,
        encoding="GSM-7",
        parts=parts,
        created_at=created_at or clock.utc_now(),
        attempts=attempts,
        **fields,
    )


def seed_message(client: Any, table: str, message: Message) -> Message:
    """Store ``message`` as the send handler does (queued, in the due index)."""
    DynamoMessageRepository(client, table).create(message, due_at=message.due_at)
    return message


def set_status(client: Any, table: str, org_id: str, message_id: str, status: Status) -> None:
    """Force a stored message into ``status``, as the dispatcher would have moved it."""
    client.update_item(
        TableName=table,
        Key={"org_id": {"S": org_id}, "id": {"S": message_id}},
        UpdateExpression="SET #status = :status",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":status": {"S": status.value}},
    )


def stored_status(client: Any, table: str, org_id: str, message_id: str) -> str | None:
    item = client.get_item(TableName=table, Key={"org_id": {"S": org_id}, "id": {"S": message_id}}).get(
        "Item"
    )
    return item["status"]["S"] if item else None


def all_items(client: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.scan(TableName=table)["Items"]
    return items
