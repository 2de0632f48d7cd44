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
from agentmessage.domain.errors import Unavailable, UnreadableRecord
from agentmessage.domain.message import ApiVersion, Channel, Cost, Message, MessageError, Mode, Priority
from agentmessage.domain.ports import DueEntry, DuePage, Transition
from agentmessage.domain.status import CHANGES, Change, Status
from agentmessage.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DUE_INDEX = "due-index"
_CONDITION_FAILED = "ConditionalCheckFailedException"
_NAMES = {"#status": "status", "#errors": "errors"}  # reserved words in DynamoDB expressions
# Attributes of an item that only storage reads: the due index's keys and the claim's token.
STORAGE_ONLY = frozenset({"due_shard", "due_at", "claim_token"})


# -- items ------------------------------------------------------------------------------------------


def _s(value: str) -> dict[str, Any]:
    return {"S": value}


def _cost(cost: Cost) -> dict[str, Any]:
    return {"M": {"amount": _s(f"{cost.amount:.4f}"), "currency": _s(cost.currency)}}


def _error_list(errors: tuple[MessageError, ...] | list[MessageError]) -> dict[str, Any]:
    return {"L": [{"M": {"code": _s(error.code), "detail": _s(error.detail)}} for error in errors]}


def to_item(message: Message) -> dict[str, Any]:
    """The item of a message; absent optional values are left out, as are empty lists."""
    item: dict[str, Any] = {
        "id": _s(message.id),
        "org_id": _s(message.org_id),
        "mode": _s(message.mode.value),
        "from": _s(message.from_),
        "to": _s(message.to),
        "text": _s(message.text),
        "channel": _s(message.channel.value),
        "priority": _s(message.priority.value),
        "status": _s(message.status.value),
        "encoding": _s(message.encoding),
        "parts": {"N": str(message.parts)},
        "cost": _cost(message.cost),
        "created_at": _s(to_iso(message.created_at)),
        "api_version": _s(message.api_version.value),
        "attempts": {"N": str(message.attempts)},
    }
    if message.media_urls:
        item["media_urls"] = {"L": [_s(url) for url in message.media_urls]}
    if message.errors:
        item["errors"] = _error_list(message.errors)
    for name in ("tag", "webhook_url", "provider_message_id", "carrier"):
        value = getattr(message, name)
        if value is not None:
            item[name] = _s(value)
    for name in ("scheduled_at", "valid_until", "sent_at", "completed_at", "canceled_at"):
        moment = getattr(message, name)
        if moment is not None:
            item[name] = _s(to_iso(moment))
    return item


def _text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if isinstance(value, Mapping) else None


def _time(item: Mapping[str, Any], name: str) -> datetime | None:
    text = _text(item, name)
    return from_iso(text) if text is not None else None


def from_item(item: Mapping[str, Any]) -> Message:
    """The message an item holds; ``UnreadableRecord`` when it does not hold one."""
    try:
        cost = item.get("cost", {}).get("M", {})
        return Message(
            id=item["id"]["S"],
            org_id=item["org_id"]["S"],
            mode=Mode(_text(item, "mode") or Mode.TEST),
            from_=item["from"]["S"],
            to=item["to"]["S"],
            text=item["text"]["S"],
            channel=Channel(_text(item, "channel") or Channel.SMS),
            media_urls=tuple(url["S"] for url in item.get("media_urls", {}).get("L", [])),
            priority=Priority(_text(item, "priority") or Priority.DEFAULT),
            status=Status(item["status"]["S"]),
            tag=_text(item, "tag"),
            scheduled_at=_time(item, "scheduled_at"),
            valid_until=_time(item, "valid_until"),
            webhook_url=_text(item, "webhook_url"),
            encoding=item["encoding"]["S"],
            parts=int(item["parts"]["N"]),
            cost=Cost(Decimal(cost["amount"]["S"]), cost["currency"]["S"]) if cost else Cost(),
            errors=tuple(
                MessageError(code=entry["M"]["code"]["S"], detail=entry["M"]["detail"]["S"])
                for entry in item.get("errors", {}).get("L", [])
            ),
            created_at=from_iso(item["created_at"]["S"]),
            sent_at=_time(item, "sent_at"),
            completed_at=_time(item, "completed_at"),
            canceled_at=_time(item, "canceled_at"),
            api_version=ApiVersion(_text(item, "api_version") or ApiVersion.V1),
            attempts=int(item.get("attempts", {}).get("N", "0")),
            provider_message_id=_text(item, "provider_message_id"),
            carrier=_text(item, "carrier"),
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise UnreadableRecord("a stored message could not be read") from exc


# -- conditions ---------------------------------------------------------------------------------------


def status_condition(change: Change) -> tuple[str, dict[str, Any]]:
    """The condition a write of ``change`` puts on the current status, from the status machine."""
    sources = sorted(CHANGES[change].sources)
    names = [f":from_{status.value}" for status in sources]
    values = {name: _s(status.value) for name, status in zip(names, sources, strict=True)}
    expression = f"#status = {names[0]}" if len(names) == 1 else f"#status IN ({', '.join(names)})"
    return expression, values


def _values(**values: str | int) -> dict[str, Any]:
    return {
        f":{name}": {"N": str(value)} if isinstance(value, int) else _s(value)
        for name, value in values.items()
    }


class DynamoMessageRepository:
    def __init__(self, client: "DynamoDBClient", table: str, due_shards: int = 4) -> None:
        self._client = client
        self._table = table
        self._due_shards = due_shards

    def due_shard(self, message_id: str) -> str:
        return str(zlib.crc32(message_id.encode()) % self._due_shards)

    def _key(self, org_id: str, message_id: str) -> dict[str, Any]:
        return {"org_id": _s(org_id), "id": _s(message_id)}

    def create(self, message: Message, due_at: datetime) -> None:
        item = to_item(message)
        item["due_shard"] = _s(self.due_shard(message.id))
        item["due_at"] = _s(to_iso(due_at))
        try:
            self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(id)"
            )
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable() from exc

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
            values[":target"] = _s(CHANGES[change].target.value)
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
                _text(old, "status") == Status.SENDING and _text(old, "claim_token") == token
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
        due = to_iso(due_at)
        return self._transition(
            org_id,
            message_id,
            Change.RELEASE,
            update="SET #status = :target, due_at = :due",
            values=_values(due=due),
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
        completed = "completed_at = :now, " if delivered else ""
        return self._transition(
            org_id,
            message_id,
            Change.RECORD_DELIVERED if delivered else Change.RECORD_SENT,
            update=f"SET #status = :target, sent_at = :now, {completed}provider_message_id = :provider, "
            "carrier = :carrier, cost = :cost REMOVE due_shard, due_at",
            values={
                **_values(now=to_iso(now), provider=provider_message_id, carrier=carrier),
                ":cost": _cost(Cost(cost)),
            },
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
        return self._transition(
            org_id,
            message_id,
            Change.RECORD_FAILED,
            # due_at of a sending message is its lease: the index may lag, the item not.
            condition="due_at <= :now" if lease_expired else None,
            update="SET #status = :target, completed_at = :now, #errors = :errors REMOVE due_shard, due_at",
            values={**_values(now=stamp), ":errors": _error_list(errors)},
            already_done=lambda old: (
                _text(old, "status") == Status.FAILED and _text(old, "completed_at") == stamp
            ),
        )

    def postpone(self, org_id: str, message_id: str, due_at: datetime) -> Transition:
        return self._transition(
            org_id,
            message_id,
            Change.POSTPONE,
            update="SET due_at = :due",
            values=_values(due=to_iso(due_at)),
        )

    def due(self, shard: int, now: datetime, limit: int, token: dict[str, object] | None) -> DuePage:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": DUE_INDEX,
            "KeyConditionExpression": "due_shard = :shard AND due_at <= :now",
            "ExpressionAttributeValues": {":shard": _s(str(shard)), ":now": _s(to_iso(now))},
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
