"""A request key's record (an Idempotency-Key, by digest), stored with its message in one transaction.

The record lives in the Idempotency table beside Powertools' own records (under another key
prefix), for 24 hours; it holds the org, the message's id, the request's digest and the message as
it was stored, so a retry is answered the message without another read.
"""

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from agentmessage.domain.commands import Once
from agentmessage.domain.errors import RequestKeyReused, Unavailable
from agentmessage.domain.message import Message
from agentmessage.integration.message_items import from_item, string_value, text

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_TRANSACTION_CANCELED = "TransactionCanceledException"
ONCE_RETENTION_SECONDS = 24 * 60 * 60
ONCE_PREFIX = "message#"


class RequestKeys:
    def __init__(self, client: "DynamoDBClient", messages_table: str, once_table: str) -> None:
        self._client = client
        self._table = messages_table
        self._once_table = once_table

    def _once_key(self, once: Once) -> dict[str, Any]:
        return {"id": string_value(ONCE_PREFIX + once.digest)}

    def create(self, message: Message, item: dict[str, Any], once: Once) -> Message:
        """The message and its request key's record in one transaction: both or neither. A key
        already recorded answers the message stored under it (or ``RequestKeyReused``)."""
        record = {
            **self._once_key(once),
            "org_id": item["org_id"],
            "message_id": item["id"],
            "fingerprint": string_value(once.fingerprint),
            "message": {
                "M": {name: value for name, value in item.items() if name not in ("due_shard", "due_at")}
            },
            "expiration": {"N": str(int(message.created_at.timestamp()) + ONCE_RETENTION_SECONDS)},
        }
        token = hashlib.sha256(f"{once.digest}/{message.id}".encode()).hexdigest()[:36]
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._once_table,
                            "Item": record,
                            "ConditionExpression": "attribute_not_exists(id)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(id)",
                        }
                    },
                ],
                ClientRequestToken=token,  # botocore's own resend of this call is the same call
            )
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if exc.response.get("Error", {}).get("Code") != _TRANSACTION_CANCELED or not reasons:
                raise Unavailable() from exc
            if reasons[0].get("Code") != "ConditionalCheckFailed":
                raise Unavailable() from exc
            earlier = reasons[0].get("Item") or self._once_record(once)
            if earlier is None:
                raise Unavailable() from exc
            return self._answer_for(earlier, once)
        except BotoCoreError as exc:
            raise Unavailable() from exc
        return message

    def _once_record(self, once: Once) -> Mapping[str, Any] | None:
        try:
            response = self._client.get_item(
                TableName=self._once_table, Key=self._once_key(once), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable() from exc
        found: Mapping[str, Any] | None = response.get("Item")
        return found

    @staticmethod
    def _answer_for(record: Mapping[str, Any], once: Once) -> Message:
        if text(record, "fingerprint") != once.fingerprint:
            raise RequestKeyReused()
        return from_item(record["message"]["M"])

    def message_of(self, org_id: str, once: Once) -> Message | None:
        record = self._once_record(once)
        if record is None or text(record, "org_id") != org_id:
            return None
        return self._answer_for(record, once)
