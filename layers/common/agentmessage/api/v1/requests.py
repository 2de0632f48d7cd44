"""The body of ``POST /v1/messages``, mapped from its wire format to the domain's ``NewMessage``.

This model maps only the format: the field names (``from``; ``body`` as an alias of ``text``), the
types, unknown fields refused, timestamps read as ISO 8601 strings. The rules (E.164 numbers, text
and media limits, the schedule window) are the domain's (``domain.rules``), checked where the
message is accepted; names in their ``details`` are the same in v1, but for ``text`` when the body
said ``body``.
"""

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from agentmessage.api.v1.representation import V1Message, to_v1
from agentmessage.domain import clock
from agentmessage.domain.caller import Caller
from agentmessage.domain.commands import NewMessage
from agentmessage.domain.errors import ValidationFailed
from agentmessage.domain.message import ApiVersion, Channel, Message, Mode, Priority
from agentmessage.domain.rules import problems

TEXT_REQUIRED = "is required (text, or its alias body)"
BOTH_TEXTS = "give text or body, not both"
_NOT_A_TIMESTAMP = "must be an ISO 8601 timestamp with a timezone"
# RFC 3339's date-time (ISO 8601's extended format), seconds and fraction optional: no epoch numbers,
# no week dates, no bare dates.
_ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?$")


def _timestamp_text(value: Any) -> Any:
    if not isinstance(value, str) or not _ISO_8601.fullmatch(value):
        raise ValueError(_NOT_A_TIMESTAMP)
    return value


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(_NOT_A_TIMESTAMP)
    try:
        return clock.from_iso(value.isoformat())
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        raise ValueError("must be an ISO 8601 timestamp within the calendar") from None


Timestamp = Annotated[datetime, BeforeValidator(_timestamp_text), AfterValidator(_utc)]


class SendMessageRequest(BaseModel):
    """What a client may send. Unknown fields are refused, so a typo never passes silently."""

    # Input uses the API names only ("from", never the Python name "from_").
    model_config = ConfigDict(extra="forbid", populate_by_name=False, str_strip_whitespace=False)

    from_: str = Field(alias="from", description="E.164")
    to: str = Field(description="E.164")
    text: str | None = Field(
        default=None, description="1..1530 GSM-7 or 1..630 UCS-2 characters; an mms 1..1600"
    )
    body: str | None = Field(default=None, description="an alias of text")
    channel: Channel = Channel.SMS
    media_urls: list[str] | None = Field(default=None, description="mms only: 1..10 https URLs")
    priority: Priority = Priority.DEFAULT
    tag: str | None = Field(default=None, description="1..64 characters")
    scheduled_at: Timestamp | None = Field(default=None, description="60 seconds to 35 days ahead")
    valid_until: Timestamp | None = Field(default=None, description="not sent by then: expired")
    webhook_url: str | None = Field(default=None, description="https")


_FIELD_NAMES = {"from_": "from"}
# Stand-ins for fields the format refused, so the rules can still look at every other field.
_PLACEHOLDERS = {"from": "", "to": "", "text": ""}


def _message_for(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "enum":
        return f"must be one of {error['ctx']['expected']}"
    return str(error["msg"]).lower()


def _format_problems(payload: Mapping[str, Any]) -> dict[str, str]:
    """What the wire format refuses, one entry per field, in v1's names."""
    details: dict[str, str] = {}
    try:
        SendMessageRequest.model_validate(payload)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            raw = str(error["loc"][0])
            name = raw if error["type"] == "extra_forbidden" else _FIELD_NAMES.get(raw, raw)
            details.setdefault(name, _message_for(error))
    text, body = payload.get("text"), payload.get("body")
    if text is not None and body is not None:
        details.setdefault("body", BOTH_TEXTS)
    if text is None and body is None:
        details.setdefault("text", TEXT_REQUIRED)
    return details


def _command(request: SendMessageRequest) -> NewMessage:
    text = request.text if request.text is not None else request.body
    return NewMessage(
        from_=request.from_,
        to=request.to,
        text=text or "",
        channel=request.channel,
        media_urls=tuple(request.media_urls or ()),
        priority=request.priority,
        tag=request.tag,
        scheduled_at=request.scheduled_at,
        valid_until=request.valid_until,
        webhook_url=request.webhook_url,
        api_version=ApiVersion.V1,
    )


def field_names(payload: Mapping[str, Any]) -> dict[str, str]:
    """The domain's field names that this body spells otherwise (``text``, sent as ``body``)."""
    return {"text": "body"} if payload.get("text") is None and payload.get("body") is not None else {}


def renamed(details: Mapping[str, str], names: Mapping[str, str]) -> dict[str, str]:
    return {names.get(name, name): problem for name, problem in details.items()}


@contextmanager
def v1_names(names: Mapping[str, str]) -> Iterator[None]:
    """Inside it, a ``ValidationFailed`` from the domain names fields as the v1 body named them."""
    try:
        yield
    except ValidationFailed as exc:
        raise ValidationFailed(renamed(exc.details, names)) from None


def to_command(payload: Mapping[str, Any], *, mode: Mode, now: datetime) -> NewMessage:
    """The command a valid body asks for, or ``ValidationFailed`` naming every bad field once.

    When the format itself is refused, the domain's rules are checked too on every field that
    was readable (with ``mode`` and ``now``), so one answer names every bad field.
    """
    refused = _format_problems(payload)
    if not refused:
        return _command(SendMessageRequest.model_validate(payload))
    names = field_names(payload)
    readable = {name: value for name, value in payload.items() if name not in refused}
    if "body" in refused:
        readable.pop("text", None)  # text and body both given: neither is the text
    stand_ins = {name: value for name, value in _PLACEHOLDERS.items() if name not in readable}
    if "body" in readable:
        stand_ins.pop("text", None)
    skip = {"text" if name == "body" else name for name in refused} | set(stand_ins)
    try:
        partial = _command(SendMessageRequest.model_validate({**readable, **stand_ins}))
    except ValidationError:
        raise ValidationFailed(refused) from None
    found = problems(partial, mode=mode, now=now, skip=frozenset(skip))
    raise ValidationFailed({**refused, **renamed(found, names)})


def accept_body(
    payload: Mapping[str, Any],
    sender: Caller,
    *,
    now: datetime,
    accept: Callable[[NewMessage], Message],
) -> V1Message:
    """A v1 send body through ``accept`` (the domain's use case, its collaborators bound): the
    message as v1 shows it, or ``ValidationFailed`` in v1's field names."""
    command = to_command(payload, mode=sender.mode, now=now)
    with v1_names(field_names(payload)):
        return to_v1(accept(command))
