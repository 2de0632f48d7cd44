"""What a surface asks the domain to do, in the domain's own terms: plain values, no wire format."""

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from agentmessage.domain.message import ApiVersion, Channel, Priority


@dataclass(frozen=True, slots=True, kw_only=True)
class NewMessage:
    """Send ``text`` from ``from_`` to ``to``, now or at ``scheduled_at``: the input of ``accept``."""

    from_: str
    to: str
    text: str
    channel: Channel = Channel.SMS
    media_urls: tuple[str, ...] = ()
    priority: Priority = Priority.DEFAULT
    tag: str | None = None
    scheduled_at: datetime | None = None
    valid_until: datetime | None = None
    webhook_url: str | None = None
    api_version: ApiVersion = ApiVersion.V1


def _canonical(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@dataclass(frozen=True, slots=True)
class Once:
    """A client's key for one request (its Idempotency-Key): however often the request is retried,
    and whatever happened to the first attempt, it makes one message. Only digests are kept: of the
    org and key (``digest``, the key of the record), and of the request (``fingerprint``: the same
    key with another request is refused)."""

    digest: str
    fingerprint: str

    @classmethod
    def of(cls, org_id: str, key: str, command: NewMessage) -> "Once":
        request = {
            name: _canonical(value) for name, value in asdict(command).items() if name != "api_version"
        }
        text = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return cls(
            digest=hashlib.sha256(f"{org_id}\n{key}".encode()).hexdigest(),
            fingerprint=hashlib.sha256(text.encode()).hexdigest(),
        )
