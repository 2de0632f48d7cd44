"""What a surface asks the domain to do, in the domain's own terms: plain values, no wire format."""

from dataclasses import dataclass
from datetime import datetime

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
