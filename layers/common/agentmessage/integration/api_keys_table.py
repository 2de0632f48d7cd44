"""The ApiKeys table: one item per key, keyed by the key's SHA-256."""

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from agentmessage.domain.clock import from_iso, to_iso
from agentmessage.domain.errors import Unavailable
from agentmessage.domain.message import Mode
from agentmessage.keys.api_keys import ApiKeyRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ORG_INDEX = "org-index"


def _record(item: dict[str, Any]) -> ApiKeyRecord:
    revoked = item.get("revoked_at")
    return ApiKeyRecord(
        key_hash=item["key_hash"]["S"],
        key_id=item["key_id"]["S"],
        org_id=item["org_id"]["S"],
        scopes=tuple(sorted(item["scopes"]["SS"])),
        mode=Mode(item["mode"]["S"]),
        created_at=from_iso(item["created_at"]["S"]),
        revoked_at=from_iso(revoked["S"]) if revoked else None,
    )


class DynamoKeyStore:
    def __init__(self, client: "DynamoDBClient", table: str) -> None:
        self._client = client
        self._table = table

    def find(self, key_hash: str) -> ApiKeyRecord | None:
        try:
            response = self._client.get_item(TableName=self._table, Key={"key_hash": {"S": key_hash}})
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable() from exc
        item = response.get("Item")
        return _record(item) if item else None

    def put(self, record: ApiKeyRecord) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "key_hash": {"S": record.key_hash},
                "key_id": {"S": record.key_id},
                "org_id": {"S": record.org_id},
                "scopes": {"SS": list(record.scopes)},
                "mode": {"S": record.mode.value},
                "created_at": {"S": to_iso(record.created_at)},
            },
            ConditionExpression="attribute_not_exists(key_hash)",
        )

    def list_for_org(self, org_id: str) -> list[ApiKeyRecord]:
        records: list[ApiKeyRecord] = []
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            IndexName=ORG_INDEX,
            KeyConditionExpression="org_id = :org",
            ExpressionAttributeValues={":org": {"S": org_id}},
        ):
            records.extend(_record(item) for item in page.get("Items", []))
        return records

    def revoke(self, org_id: str, key_id: str, now: datetime) -> ApiKeyRecord | None:
        """Revoke the org's key ``key_id``; ``None`` when the org has no such key."""
        for record in self.list_for_org(org_id):
            if record.key_id == key_id:
                response = self._client.update_item(
                    TableName=self._table,
                    Key={"key_hash": {"S": record.key_hash}},
                    UpdateExpression="SET revoked_at = if_not_exists(revoked_at, :now)",
                    ExpressionAttributeValues={":now": {"S": to_iso(now)}},
                    ReturnValues="ALL_NEW",
                )
                return _record(response["Attributes"])
        return None
