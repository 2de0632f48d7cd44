"""Resolving an API key to its org and scopes. No AWS SDK here: the key store is an interface."""

import hmac
from collections.abc import Mapping
from typing import Protocol

from agentmessage.keys.api_keys import ApiKeyRecord, bearer_token, hash_key, is_well_formed


def authorization_header(
    headers: Mapping[str, str] | None, multi_value_headers: Mapping[str, list[str]] | None
) -> str | None:
    """The request's one ``Authorization`` value; ``None`` when it has none, or more than one (in
    any case of the name, repeated or not): a request may not carry two keys and let the
    authorizer, its cache and the handler each pick another one."""
    values: list[str] = []
    if multi_value_headers:
        for name, listed in multi_value_headers.items():
            if name.lower() == "authorization":
                values.extend(listed or [])
    elif headers:
        values = [value for name, value in headers.items() if name.lower() == "authorization"]
    return values[0] if len(values) == 1 else None


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
