"""API keys stored the way the product stores them: only the hash, in the ApiKeys table."""

from typing import Any

from agentmessage.domain import clock
from agentmessage.domain.message import Mode
from agentmessage.integration.api_keys_table import DynamoKeyStore
from agentmessage.keys.api_keys import ApiKeyRecord, generate_key, hash_key, new_key_id

ALL_SCOPES = ("messages:send", "messages:read")


def store_key(
    client: Any,
    table: str,
    *,
    org_id: str = "org_a",
    scopes: tuple[str, ...] = ALL_SCOPES,
    mode: Mode = Mode.TEST,
    key: str | None = None,
    stored_mode: Mode | None = None,
    revoked: bool = False,
) -> tuple[str, ApiKeyRecord]:
    """A new key (or ``key``) and its stored record. ``stored_mode`` records a mode other than the key's."""
    key = key or generate_key(mode)
    record = ApiKeyRecord(
        key_hash=hash_key(key),
        key_id=new_key_id(),
        org_id=org_id,
        scopes=tuple(scopes),
        mode=stored_mode or mode,
        created_at=clock.utc_now(),
    )
    store = DynamoKeyStore(client, table)
    store.put(record)
    if revoked:
        revoked_record = store.revoke(org_id, record.key_id, clock.utc_now())
        assert revoked_record is not None
        assert not revoked_record.active
        record = revoked_record
    return key, record
