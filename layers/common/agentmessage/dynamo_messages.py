"""The Messages table: every status change is one conditional ``UpdateItem``.

Items are keyed by ``org_id`` (partition) and ``id`` (sort), so every read and write names the
org and no lookup can cross orgs. Messages that the sweeper may need to act on (``queued`` and
``sending``) carry ``due_shard`` and ``due_at``, which make them visible in the sparse
``due-index``; a terminal status removes both.
"""

import uuid
import zlib
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from agentmessage.clock import from_iso, to_iso
from agentmessage.errors import ServiceUnavailable
from agentmessage.model import Message, MessageError, Status
from agentmessage.observability import logger
from agentmessage.repository import DueEntry, DuePage, Transition

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DUE_INDEX = "due-index"
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_CONDITION_FAILED = "ConditionalCheckFailedException"
_NAMES = {"#status": "status", "#errors": "errors"}  # reserved words in DynamoDB expressions


def to_item(message: Message) -> dict[str, Any]:
    data = message.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {name: _serializer.serialize(value) for name, value in data.items() if value != []}


def from_item(item: Mapping[str, Any]) -> Message:
    data = {name: _deserializer.deserialize(value) for name, value in item.items()}
    for storage_only in ("due_shard", "due_at", "claim_token"):
        data.pop(storage_only, None)
    if "parts" in data:
        data["parts"] = int(data["parts"])
    if "attempts" in data:
        data["attempts"] = int(data["attempts"])
    return Message.model_validate(data)


def _text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if isinstance(value, Mapping) else None


def _values(**values: Any) -> dict[str, Any]:
    return {f":{name}": _serializer.serialize(value) for name, value in values.items()}


class DynamoMessageRepository:
    def __init__(self, client: "DynamoDBClient", table: str, due_shards: int = 4) -> None:
        self._client = client
        self._table = table
        self._due_shards = due_shards

    def due_shard(self, message_id: str) -> str:
        return str(zlib.crc32(message_id.encode()) % self._due_shards)

    def _key(self, org_id: str, message_id: str) -> dict[str, Any]:
        return {"org_id": {"S": org_id}, "id": {"S": message_id}}

    def create(self, message: Message, due_at: datetime) -> None:
        item = to_item(message)
        item["due_shard"] = {"S": self.due_shard(message.id)}
        item["due_at"] = {"S": to_iso(due_at)}
        try:
            self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(id)"
            )
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailable() from exc

    def get(self, org_id: str, message_id: str) -> Message | None:
        try:
            # Strongly consistent: a client that reads right after its 202 sees its message.
            response = self._client.get_item(
                TableName=self._table, Key=self._key(org_id, message_id), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailable() from exc
        item = response.get("Item")
        return from_item(item) if item else None

    def _transition(
        self,
        org_id: str,
        message_id: str,
        *,
        condition: str,
        update: str,
        values: dict[str, Any],
        already_done: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> Transition:
        """One conditional update. ``already_done`` recognises, in the item a failed condition
        returns, this very update applied by an earlier attempt whose answer was lost (botocore
        retries a timed-out call): that is a win, not a lost race."""
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key(org_id, message_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={
                    alias: name for alias, name in _NAMES.items() if alias in update or alias in condition
                },
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
                raise ServiceUnavailable() from exc
            old: Mapping[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            if old and already_done is not None and already_done(old):
                return Transition(won=True, message=from_item(old))
            return Transition(won=False, message=from_item(old) if old else None)
        except BotoCoreError as exc:
            raise ServiceUnavailable() from exc
        return Transition(won=True, message=from_item(response["Attributes"]))

    def cancel(self, org_id: str, message_id: str, now: datetime) -> Transition:
        return self._transition(
            org_id,
            message_id,
            condition="#status = :queued",
            update="SET #status = :canceled, canceled_at = :now, completed_at = :now "
            "REMOVE due_shard, due_at",
            values=_values(queued=Status.QUEUED, canceled=Status.CANCELED, now=to_iso(now)),
        )

    def claim(self, org_id: str, message_id: str, now: datetime, lease_until: datetime) -> Transition:
        token = str(uuid.uuid4())  # names this claim, so a retried claim knows its own write
        return self._transition(
            org_id,
            message_id,
            condition="#status = :queued"
            " AND (attribute_not_exists(valid_until) OR valid_until > :now)"
            " AND (attribute_not_exists(scheduled_at) OR scheduled_at <= :now)",
            update="SET #status = :sending, due_at = :lease, claim_token = :token,"
            " attempts = if_not_exists(attempts, :zero) + :one",
            values=_values(
                queued=Status.QUEUED,
                sending=Status.SENDING,
                now=to_iso(now),
                lease=to_iso(lease_until),
                token=token,
                zero=0,
                one=1,
            ),
            already_done=lambda old: (
                _text(old, "status") == Status.SENDING and _text(old, "claim_token") == token
            ),
        )

    def expire(self, org_id: str, message_id: str, now: datetime) -> Transition:
        return self._transition(
            org_id,
            message_id,
            condition="#status = :queued AND valid_until <= :now",
            update="SET #status = :expired, completed_at = :now REMOVE due_shard, due_at",
            values=_values(queued=Status.QUEUED, expired=Status.EXPIRED, now=to_iso(now)),
        )

    def release(self, org_id: str, message_id: str, due_at: datetime) -> Transition:
        due = to_iso(due_at)
        return self._transition(
            org_id,
            message_id,
            condition="#status = :sending",
            update="SET #status = :queued, due_at = :due",
            values=_values(sending=Status.SENDING, queued=Status.QUEUED, due=due),
            already_done=lambda old: _text(old, "status") == Status.QUEUED and _text(old, "due_at") == due,
        )

    def record_sent(
        self,
        org_id: str,
        message_id: str,
        *,
        now: datetime,
        provider_message_id: str,
        carrier: str,
        cost: Decimal,
        delivered: bool,
    ) -> Transition:
        update = (
            "SET #status = :status, sent_at = :now, provider_message_id = :provider, carrier = :carrier, "
            "cost = :cost REMOVE due_shard, due_at"
        )
        values = _values(
            sending=Status.SENDING,
            status=Status.DELIVERED if delivered else Status.SENT,
            now=to_iso(now),
            provider=provider_message_id,
            carrier=carrier,
            cost={"amount": f"{cost:.4f}", "currency": "USD"},
        )
        if delivered:
            update = update.replace("sent_at = :now,", "sent_at = :now, completed_at = :now,")
        return self._transition(
            org_id,
            message_id,
            condition="#status = :sending",
            update=update,
            values=values,
            already_done=lambda old: _text(old, "provider_message_id") == provider_message_id,
        )

    def record_failed(
        self,
        org_id: str,
        message_id: str,
        *,
        now: datetime,
        errors: list[MessageError],
        lease_expired: bool = False,
    ) -> Transition:
        stamp = to_iso(now)
        condition = "#status = :sending"
        if lease_expired:  # due_at of a sending message is its lease: the index may lag, the item not
            condition += " AND due_at <= :now"
        return self._transition(
            org_id,
            message_id,
            condition=condition,
            update="SET #status = :failed, completed_at = :now, #errors = :errors REMOVE due_shard, due_at",
            values=_values(
                sending=Status.SENDING,
                failed=Status.FAILED,
                now=stamp,
                errors=[error.model_dump() for error in errors],
            ),
            already_done=lambda old: (
                _text(old, "status") == Status.FAILED and _text(old, "completed_at") == stamp
            ),
        )

    def postpone(self, org_id: str, message_id: str, due_at: datetime) -> Transition:
        return self._transition(
            org_id,
            message_id,
            condition="#status = :queued",
            update="SET due_at = :due",
            values=_values(queued=Status.QUEUED, due=to_iso(due_at)),
        )

    def due(self, shard: int, now: datetime, limit: int, token: dict[str, object] | None) -> DuePage:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": DUE_INDEX,
            "KeyConditionExpression": "due_shard = :shard AND due_at <= :now",
            "ExpressionAttributeValues": _values(shard=str(shard), now=to_iso(now)),
            "Limit": limit,
        }
        if token:
            request["ExclusiveStartKey"] = token
        try:
            response = self._client.query(**request)
        except (ClientError, BotoCoreError) as exc:
            raise ServiceUnavailable() from exc
        entries = []
        unreadable = 0
        for item in response.get("Items", []):
            try:
                entries.append(_due_entry(item))
            except (KeyError, TypeError, ValueError):
                # One bad row must not stop the sweep of every row after it, minute after minute.
                unreadable += 1
                logger.error("unreadable due-index row", extra={"message_id": _text(item, "id")})
        next_token: dict[str, Any] | None = response.get("LastEvaluatedKey")
        return DuePage(entries=entries, next_token=next_token, unreadable=unreadable)


def _due_entry(item: Mapping[str, Any]) -> DueEntry:
    valid_until = item.get("valid_until")
    return DueEntry(
        org_id=item["org_id"]["S"],
        id=item["id"]["S"],
        status=Status(item["status"]["S"]),
        due_at=from_iso(item["due_at"]["S"]),
        valid_until=from_iso(valid_until["S"]) if valid_until else None,
    )
