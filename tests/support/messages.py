"""Send bodies and stored messages for the tests: one valid body, one way to seed the Messages table."""

from datetime import datetime, timedelta
from typing import Any

from agentmessage import clock, ids
from agentmessage.dynamo_messages import DynamoMessageRepository
from agentmessage.model import Message, Mode, Status

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
    org_id: str = ORG,
    message_id: str | None = None,
    *,
    status: Status = Status.QUEUED,
    scheduled_at: datetime | None = None,
    text: str = TEXT,
    mode: Mode = Mode.TEST,
) -> Message:
    return Message(
        id=message_id or ids.new_message_id(),
        org_id=org_id,
        mode=mode,
        from_=SENDER,
        to=RECIPIENT,
        text=text,
        status=status,
        scheduled_at=scheduled_at,
        encoding="GSM-7",
        parts=1,
        created_at=clock.utc_now(),
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
