"""Message ids: UUID version 7 (RFC 9562), so ids sort by creation time."""

import os
import re
import time
import uuid

_UUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def new_message_id() -> str:
    """A UUIDv7: 48 bits of Unix milliseconds, version, 74 random bits, variant."""
    unix_ms = time.time_ns() // 1_000_000
    random_bits = int.from_bytes(os.urandom(10), "big")  # 80 bits, 74 used
    value = (unix_ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version 7
    value |= ((random_bits >> 62) & 0xFFF) << 64  # rand_a: 12 bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= random_bits & 0x3FFF_FFFF_FFFF_FFFF  # rand_b: 62 bits
    return str(uuid.UUID(int=value))


def is_message_id(candidate: str) -> bool:
    """True for a canonical lower-case UUID: anything else cannot name a message."""
    return bool(_UUID_PATTERN.fullmatch(candidate))  # match() would accept a trailing newline
