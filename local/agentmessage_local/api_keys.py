"""Creating, listing and revoking API keys in an ApiKeys table (local or deployed).

A key is returned once, by ``create_key``; only its SHA-256 is stored, through the layer's
``DynamoKeyStore``, the same code the authorizer reads with.
"""

import re
from collections.abc import Iterable
from datetime import datetime

from agentmessage.domain.caller import Scope
from agentmessage.domain.clock import utc_now
from agentmessage.domain.message import Mode
from agentmessage.integration.api_keys_table import DynamoKeyStore
from agentmessage.keys.api_keys import ApiKeyRecord, generate_key, hash_key, new_key_id

ORG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class KeyAdminError(Exception):
    pass


def checked_org(org_id: str) -> str:
    if not ORG_PATTERN.match(org_id):
        raise KeyAdminError(f"org id {org_id!r}: 1..64 letters, digits, '_', '.' or '-'")
    return org_id


def checked_scopes(scopes: Iterable[str]) -> list[str]:
    wanted = sorted({scope.strip() for scope in scopes if scope.strip()})
    known = {scope.value for scope in Scope}
    unknown = [scope for scope in wanted if scope not in known]
    if unknown or not wanted:
        raise KeyAdminError(
            f"scopes must be among {', '.join(sorted(known))}; got {', '.join(unknown) or 'none'}"
        )
    return wanted


def create_key(
    store: DynamoKeyStore, org_id: str, scopes: Iterable[str], mode: Mode, now: datetime | None = None
) -> tuple[str, ApiKeyRecord]:
    """A new key for ``org_id``: the key itself (shown once) and its stored record."""
    key = generate_key(mode)
    record = ApiKeyRecord(
        key_hash=hash_key(key),
        key_id=new_key_id(),
        org_id=checked_org(org_id),
        scopes=tuple(checked_scopes(scopes)),
        mode=mode,
        created_at=now or utc_now(),
    )
    store.put(record)
    return key, record


def list_keys(store: DynamoKeyStore, org_id: str) -> list[ApiKeyRecord]:
    return sorted(store.list_for_org(checked_org(org_id)), key=lambda record: record.created_at)


def revoke_key(store: DynamoKeyStore, org_id: str, key_id: str, now: datetime | None = None) -> ApiKeyRecord:
    record = store.revoke(checked_org(org_id), key_id, now or utc_now())
    if record is None:
        raise KeyAdminError(f"org {org_id} has no key {key_id}")
    return record
