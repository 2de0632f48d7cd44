"""API keys: their shape, their hash, and the record kept for each.

A key is ``am_live_`` or ``am_test_`` followed by 40 characters of base62. It is shown once,
when created; only its SHA-256 is stored, and the shape is checked before any lookup, so a
malformed key costs no read.
"""

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from agentmessage.domain.message import Mode

SECRET_LENGTH = 40
_ALPHABET = string.ascii_letters + string.digits
_KEY_PATTERN = re.compile(rf"^am_(live|test)_[A-Za-z0-9]{{{SECRET_LENGTH}}}$")
KEY_LENGTH = len("am_live_") + SECRET_LENGTH


def is_well_formed(key: str) -> bool:
    return len(key) == KEY_LENGTH and bool(_KEY_PATTERN.match(key))


def mode_of(key: str) -> Mode:
    return Mode.LIVE if key.startswith("am_live_") else Mode.TEST


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key(mode: Mode) -> str:
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))
    return f"am_{mode.value}_{secret}"


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)


def bearer_token(header: str | None) -> str | None:
    """The key from ``Authorization: Bearer <key>``; the scheme is case-insensitive."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyRecord:
    """A stored key: everything but the key itself."""

    key_hash: str
    key_id: str
    org_id: str
    scopes: tuple[str, ...]
    mode: Mode
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None
