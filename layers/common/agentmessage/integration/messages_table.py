"""The Messages table: every status change is one conditional ``UpdateItem``.

Items are keyed by ``org_id`` (partition) and ``id`` (sort), so every read and write names the
org and no lookup can cross orgs. Messages that the sweeper may need to act on (``queued`` and
``sending``) carry ``due_shard`` and ``due_at``, which make them visible in the sparse
``due-index``; a terminal status removes both. Each write's condition on the current status is
derived from the domain's status machine (``domain.status.CHANGES``).
"""

import uuid
import zlib
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from agentmessage.domain.clock import from_iso, to_iso
from agentmessage.domain.commands import Once
from agentmessage.domain.errors import Unavailable
from agentmessage.domain.message import Cost, Message, MessageError
from agentmessage.domain.ports import DueEntry, DuePage, Transition
from agentmessage.domain.status import CHANGES, Change, Status
from agentmessage.integration.message_items import (
    cost_value,
    error_list,
    from_item,
    string_value,
    text,
    time_of,
    to_item,
)
from agentmessage.integration.request_keys import RequestKeys
from agentmessage.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DUE_INDEX = "due-index"
_CONDITION_FAILED = "ConditionalCheckFailedException"
_NAMES = {"#status": "status", "#errors": "errors"}  # reserved words in DynamoDB expressions


# -- conditions ---------------------------------------------------------------------------------------


def status_condition(change: Change) -> tuple[str, dict[str, Any]]:
    """The condition a write of ``change`` puts on the current status, from the status machine."""
    sources = sorted(CHANGES[change].sources)
    names = [f":from_{status.value}" for status in sources]
    values = {name: string_value(status.value) for name, status in zip(names, sources, strict=True)}
    expression = f"#status = {names[0]}" if len(names) == 1 else f"#status IN ({', '.join(names)})"
    return expression, values


def _values(**values: str | int) -> dict[str, Any]:
    return {
        f":{name}": {"N": str(value)} if isinstance(value, int) else string_value(value)
        for name, value in values.items()
    }


class DynamoMessageRepository:
    """The Messages table; with ``once_table`` (the Idempotency table), creation under a request key."""

    def __init__(
        self, client: "DynamoDBClient", table: str, due_shards: int = 4, once_table: str | None = None
    ) -> None:
        self._client = client
        self._table = table
        self._due_shards = due_shards
        self._once = RequestKeys(client, table, once_table) if once_table else None

    def due_shard(self, message_id: str) -> str:
        return str(zlib.crc32(message_id.encode()) % self._due_shards)

    def _key(self, org_id: str, message_id: str) -> dict[str, Any]:
        return {"org_id": string_value(org_id), "id": string_value(message_id)}

    def create(self, message: Message, due_at: datetime, once: Once | None = None) -> Message:
        item = to_item(message)
        item["due_shard"] = string_value(self.due_shard(message.id))
        item["due_at"] = string_value(to_iso(due_at))
        if once is not None:
            assert self._once is not None, "creation under a request key needs the once table"
            return self._once.create(message, item, once)
        try:
            self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(id)"
            )
        except ClientError as exc:
            # The id is new and random: an item already under it is this put, sent again by
            # botocore after its first answer was lost.
            if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
                raise Unavailable() from exc
        except BotoCoreError as exc:
            raise Unavailable() from exc
        return message

    def created_once(self, org_id: str, once: Once) -> Message | None:
        assert self._once is not None, "a request key's record needs the once table"
        return self._once.message_of(org_id, once)

    def get(self, org_id: str, message_id: str) -> Message | None:
        try:
            # Strongly consistent: a client that reads right after its 202 sees its message.
            response = self._client.get_item(
                TableName=self._table, Key=self._key(org_id, message_id), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable() from exc
        item = response.get("Item")
        return from_item(item) if item else None

    def _transition(
        self,
        org_id: str,
        message_id: str,
        change: Change,
        *,
        update: str,
        values: dict[str, Any],
        condition: str | None = None,
        already_done: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> Transition:
        """One conditional update: ``change``'s condition on the status (and ``condition``, if any).
        ``already_done`` recognises, in the item a failed condition returns, this very update applied
        by an earlier attempt whose answer was lost (botocore retries a timed-out call): that is a
        win, not a lost race."""
        status_check, status_values = status_condition(change)
        full_condition = status_check if condition is None else f"{status_check} AND {condition}"
        values = {**values, **status_values}
        if ":target" in update:
            values[":target"] = string_value(CHANGES[change].target.value)
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=self._key(org_id, message_id),
                UpdateExpression=update,
                ConditionExpression=full_condition,
                ExpressionAttributeNames={
                    alias: name
                    for alias, name in _NAMES.items()
                    if alias in update or alias in full_condition
                },
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
                raise Unavailable() from exc
            old: Mapping[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            if old and already_done is not None and already_done(old):
                return Transition(won=True, message=from_item(old))
            return Transition(won=False, message=from_item(old) if old else None)
        except BotoCoreError as exc:
            raise Unavailable() from exc
        return Transition(won=True, message=from_item(response["Attributes"]))

    def cancel(self, org_id: str, message_id: str, now: datetime) -> Transition:
        return self._transition(
            org_id,
            message_id,
            Change.CANCEL,
            update="SET #status = :target, canceled_at = :now, completed_at = :now REMOVE due_shard, due_at",
            values=_values(now=to_iso(now)),
        )

    def claim(self, org_id: str, message_id: str, now: datetime, lease_until: datetime) -> Transition:
        token = str(uuid.uuid4())  # names this claim, so a retried claim knows its own write
        return self._transition(
            org_id,
            message_id,
            Change.CLAIM,
            condition="(attribute_not_exists(valid_until) OR valid_until > :now)"
            " AND (attribute_not_exists(scheduled_at) OR scheduled_at <= :now)",
            update="SET #status = :target, due_at = :lease, claim_token = :token,"
            " attempts = if_not_exists(attempts, :zero) + :one",
            values=_values(now=to_iso(now), lease=to_iso(lease_until), token=token, zero=0, one=1),
            already_done=lambda old: (
                text(old, "status") == Status.SENDING and text(old, "claim_token") == token
            ),
        )

    def expire(self, org_id: str, message_id: str, now: datetime) -> Transition:
        return self._transition(
            org_id,
            message_id,
            Change.EXPIRE,
            condition="valid_until <= :now",
            update="SET #status = :target, completed_at = :now REMOVE due_shard, due_at",
            values=_values(now=to_iso(now)),
        )

    def release(self, org_id: str, message_id: str, due_at: datetime) -> Transition:
        """Back to queued, due again at ``due_at``. Its record is in flight, not waiting in the
        queue's backlog, so ``enqueued_at`` goes: the sweeper offers it again once it is due."""
        due = to_iso(due_at)
        return self._transition(
            org_id,
            message_id,
            Change.RELEASE,
            update="SET #status = :target, due_at = :due REMOVE enqueued_at",
            values=_values(due=due),
            already_done=lambda old: text(old, "status") == Status.QUEUED and text(old, "due_at") == due,
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
    ) -> Transition:
        return self._transition(
            org_id,
            message_id,
            Change.RECORD_SENT,
            update="SET #status = :target, sent_at = :now, provider_message_id = :provider, "
            "carrier = :carrier, cost = :cost REMOVE due_shard, due_at",
            values={
                **_values(now=to_iso(now), provider=provider_message_id, carrier=carrier),
                ":cost": cost_value(Cost(cost)),
            },
            already_done=lambda old: text(old, "provider_message_id") == provider_message_id,
        )

    def record_receipt(
        self,
        org_id: str,
        message_id: str,
        change: Change,
        *,
        provider_message_id: str,
        at: datetime,
        error: MessageError | None,
    ) -> Transition:
        stamp = to_iso(at)
        condition = "provider_message_id = :provider"
        if change is Change.RECEIPT_UNCONFIRMED:  # once: a second one is a duplicate
            condition += " AND attribute_not_exists(completed_at)"
        if error is None:
            update = "SET #status = :target, completed_at = :at REMOVE #errors"
        else:
            update = "SET #status = :target, completed_at = :at, #errors = :errors"
        target = CHANGES[change].target
        return self._transition(
            org_id,
            message_id,
            change,
            condition=condition,
            update=update,
            values={
                **_values(provider=provider_message_id, at=stamp),
                **({":errors": error_list([error])} if error is not None else {}),
            },
            already_done=lambda old: text(old, "status") == target and text(old, "completed_at") == stamp,
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
        return self._transition(
            org_id,
            message_id,
            Change.RECORD_FAILED,
            # due_at of a sending message is its lease: the index may lag, the item not.
            condition="due_at <= :now" if lease_expired else None,
            update="SET #status = :target, completed_at = :now, #errors = :errors REMOVE due_shard, due_at",
            values={**_values(now=stamp), ":errors": error_list(errors)},
            already_done=lambda old: (
                text(old, "status") == Status.FAILED and text(old, "completed_at") == stamp
            ),
        )

    def postpone(
        self, org_id: str, message_id: str, due_at: datetime, enqueued_at: datetime | None = None
    ) -> Transition:
        if enqueued_at is None:
            return self._transition(
                org_id,
                message_id,
                Change.POSTPONE,
                update="SET due_at = :due",
                values=_values(due=to_iso(due_at)),
            )
        return self._transition(
            org_id,
            message_id,
            Change.POSTPONE,
            update="SET due_at = :due, enqueued_at = :enqueued",
            values=_values(due=to_iso(due_at), enqueued=to_iso(enqueued_at)),
        )

    def due(self, shard: int, now: datetime, limit: int, token: dict[str, object] | None) -> DuePage:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": DUE_INDEX,
            "KeyConditionExpression": "due_shard = :shard AND due_at <= :now",
            "ExpressionAttributeValues": {
                ":shard": string_value(str(shard)),
                ":now": string_value(to_iso(now)),
            },
            "Limit": limit,
        }
        if token:
            request["ExclusiveStartKey"] = token
        try:
            response = self._client.query(**request)
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable() from exc
        entries = []
        unreadable = 0
        for item in response.get("Items", []):
            try:
                entries.append(_due_entry(item))
            except (KeyError, TypeError, ValueError):
                # One bad row must not stop the sweep of every row after it, minute after minute.
                unreadable += 1
                logger.error("unreadable due-index row", extra={"message_id": text(item, "id")})
        next_token: dict[str, Any] | None = response.get("LastEvaluatedKey")
        return DuePage(entries=entries, next_token=next_token, unreadable=unreadable)


def _due_entry(item: Mapping[str, Any]) -> DueEntry:
    return DueEntry(
        org_id=item["org_id"]["S"],
        id=item["id"]["S"],
        status=Status(item["status"]["S"]),
        due_at=from_iso(item["due_at"]["S"]),
        valid_until=time_of(item, "valid_until"),
        enqueued_at=time_of(item, "enqueued_at"),
    )
