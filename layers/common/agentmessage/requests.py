"""The body of ``POST /v1/messages``: parsed and checked, every bad field named once."""

import json
import re
from datetime import datetime, timedelta
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agentmessage import clock
from agentmessage.errors import BadRequest, ValidationFailed
from agentmessage.model import Channel, Priority

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
MAX_TEXT = 1600
MAX_MEDIA = 10
MAX_URL = 2048
MIN_SCHEDULE_AHEAD = timedelta(seconds=60)
MAX_SCHEDULE_AHEAD = timedelta(days=35)
_TEXT_REQUIRED = "is required (text, or its alias body)"


def _https_url(value: str) -> str:
    """An absolute https URL, as URIs are written: ASCII (other characters percent-encoded, a
    non-ASCII host in its xn-- form), with a host name that DNS can carry."""
    problem = f"must be an https URL of at most {MAX_URL} ASCII characters"
    if len(value) > MAX_URL or not value.isascii() or not value.isprintable():
        raise ValueError(problem)
    try:
        parts = urlsplit(value)
        host = parts.hostname
        if parts.scheme != "https" or not host:
            raise ValueError(problem)
        host.encode("idna")  # refuses an empty label, or one over 63 characters
    except (ValueError, UnicodeError):
        raise ValueError(problem) from None
    return value


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must be an ISO 8601 timestamp with a timezone")
    try:
        return clock.from_iso(value.isoformat())
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        raise ValueError("must be an ISO 8601 timestamp within the calendar") from None


class SendMessageRequest(BaseModel):
    """What a client may send. Unknown fields are refused, so a typo never passes silently."""

    # Input uses the API names only ("from", never the Python name "from_").
    model_config = ConfigDict(extra="forbid", populate_by_name=False, str_strip_whitespace=False)

    from_: str = Field(alias="from")
    to: str
    text: str | None = None
    body: str | None = None
    channel: Channel = Channel.SMS
    media_urls: list[str] | None = Field(default=None, validate_default=True)
    priority: Priority = Priority.DEFAULT
    tag: str | None = None
    scheduled_at: datetime | None = None
    valid_until: datetime | None = None
    webhook_url: str | None = None

    @field_validator("from_", "to")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not E164.fullmatch(value):  # match() would let a trailing newline through
            raise ValueError("must be E.164")
        return value

    @field_validator("text", "body")
    @classmethod
    def _text_length(cls, value: str | None) -> str | None:
        if value is not None and not 1 <= len(value) <= MAX_TEXT:
            raise ValueError(f"must be 1..{MAX_TEXT} chars")
        return value

    @field_validator("tag")
    @classmethod
    def _tag_length(cls, value: str | None) -> str | None:
        if value is not None and not 1 <= len(value) <= 64:
            raise ValueError("must be 1..64 chars")
        return value

    @field_validator("body")
    @classmethod
    def _one_text(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("text") is not None:
            raise ValueError("give text or body, not both")
        return value

    @field_validator("media_urls")
    @classmethod
    def _media(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        channel = info.data.get("channel")
        if channel is Channel.SMS and value:
            raise ValueError("only allowed when channel is mms")
        if channel is Channel.MMS and not value:
            raise ValueError(f"mms needs 1..{MAX_MEDIA} https URLs")
        if value is None:
            return None
        if len(value) > MAX_MEDIA:
            raise ValueError(f"must hold 1..{MAX_MEDIA} https URLs")
        return [_https_url(url) for url in value]

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        return None if value is None else _https_url(value)

    @field_validator("scheduled_at")
    @classmethod
    def _schedule_window(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        value = _utc(value)
        now = clock.utc_now()
        if not now + MIN_SCHEDULE_AHEAD <= value <= now + MAX_SCHEDULE_AHEAD:
            raise ValueError("must be 60 seconds to 35 days in the future")
        return value

    @field_validator("valid_until")
    @classmethod
    def _validity(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None:
            return None
        value = _utc(value)
        floor = info.data.get("scheduled_at") or clock.utc_now()
        if value <= floor:
            raise ValueError("must be later than scheduled_at, or than now")
        if value > floor + MAX_SCHEDULE_AHEAD:
            raise ValueError("must be within 35 days of scheduled_at, or of now")
        return value

    @model_validator(mode="after")
    def _has_text(self) -> Self:
        if self.text is None and self.body is None:
            raise ValueError(_TEXT_REQUIRED)
        return self

    @property
    def message_text(self) -> str:
        text = self.text if self.text is not None else self.body
        assert text is not None  # guaranteed by _has_text
        return text


def parse_json_object(raw: str | None) -> dict[str, Any]:
    """The body as a JSON object of valid Unicode text, or ``BadRequest``."""
    if not raw:
        raise BadRequest()
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest() from exc
    if not isinstance(value, dict):
        raise BadRequest()
    try:
        # JSON lets "\ud800" through, but no store, carrier or UTF-8 answer can hold it.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("request body holds an unpaired UTF-16 surrogate") from None
    return value


_FIELD_NAMES = {"from_": "from"}


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


def parse_send_request(payload: dict[str, Any]) -> SendMessageRequest:
    """Validate a send body; ``ValidationFailed`` names every bad field once."""
    try:
        return SendMessageRequest.model_validate(payload)
    except ValidationError as exc:
        details: dict[str, str] = {}
        for error in exc.errors(include_url=False):
            location = error["loc"]
            if not location:  # the one model-level check: no text at all
                details.setdefault("text", _TEXT_REQUIRED)
                continue
            raw = str(location[0])
            name = raw if error["type"] == "extra_forbidden" else _FIELD_NAMES.get(raw, raw)
            details.setdefault(name, _message_for(error))
        if payload.get("text") is None and payload.get("body") is None:
            details.setdefault("text", _TEXT_REQUIRED)
        raise ValidationFailed(details=details) from None
