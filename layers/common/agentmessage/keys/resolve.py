"""Resolving an API key to its org and scopes. No AWS SDK here: the key store is an interface."""

import hmac
from typing import Protocol

from agentmessage.keys.api_keys import ApiKeyRecord, bearer_token, hash_key, is_well_formed


class KeyStore(Protocol):
    def find(self, key_hash: str) -> ApiKeyRecord | None: ...


def resolve_key(authorization_header: str | None, store: KeyStore) -> ApiKeyRecord | None:
    """The active key record for a ``Bearer`` header, or ``None``.

    The shape is checked before any lookup, so a malformed key costs no read; only the key's
    SHA-256 ever leaves this function.
    """
    key = bearer_token(authorization_header)
    if key is None or not is_well_formed(key):
        return None
    digest = hash_key(key)
    record = store.find(digest)
    if record is None or not hmac.compare_digest(record.key_hash, digest) or not record.active:
        return None
    if not key.startswith(f"am_{record.mode.value}_"):
        return None
    return record
