"""The rules a new message must keep, checked once, against the ``now`` of its request.

``problems`` names each field that breaks a rule, with what is wrong, keyed by the command's field
names (``from`` for ``from_``); a surface renames them to its own. Nothing here parses a wire
format: types and shapes are the surface's business, rules are the domain's.
"""

import re
import unicodedata
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from agentmessage.domain.commands import NewMessage
from agentmessage.domain.encoding import Encoding, segment
from agentmessage.domain.message import Channel, Mode

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
# A text's length, as the live carrier counts it (AWS End User Messaging: "the maximum supported size
# of any message is 1530 GSM characters or 630 non-GSM characters", in ten parts at most): GSM-7
# septets (an extension character is two), or UCS-2's UTF-16 units (a character outside the BMP is
# two). An MMS's text is not split into parts: SendMediaMessage's MessageBody holds 1600 characters.
MAX_GSM7_UNITS = 1530
MAX_UCS2_UNITS = 630
MAX_MMS_UNITS = 1600
TEXT_PROBLEM = f"must be 1..{MAX_GSM7_UNITS} GSM-7 or 1..{MAX_UCS2_UNITS} UCS-2 characters (at most 10 parts)"
MMS_TEXT_PROBLEM = f"must be 1..{MAX_MMS_UNITS} characters"
ALLOWED_CONTROLS = frozenset("\t\r\n")
MAX_TAG = 64
MAX_MEDIA = 10
MAX_URL = 2048
MIN_SCHEDULE_AHEAD = timedelta(seconds=60)
MAX_SCHEDULE_AHEAD = timedelta(days=35)
# AWS End User Messaging's SendMediaMessage takes one media file per message; the sandbox takes the
# API's ten. Refused at acceptance for live keys, and by the live carrier again at send.
LIVE_MEDIA_LIMIT = 1

URL_PROBLEM = f"must be an https URL of at most {MAX_URL} ASCII characters"


def is_https_url(value: str) -> bool:
    """An absolute https URL, as URIs are written: ASCII (other characters percent-encoded, a
    non-ASCII host in its xn-- form), with a host name that DNS can carry."""
    if len(value) > MAX_URL or not value.isascii() or not value.isprintable():
        return False
    try:
        parts = urlsplit(value)
        host = parts.hostname
        if parts.scheme != "https" or not host:
            return False
        host.encode("idna")  # refuses an empty label, or one over 63 characters
    except (ValueError, UnicodeError):
        return False
    return True


def _media_problem(command: NewMessage, mode: Mode) -> str | None:
    media = command.media_urls
    if command.channel is Channel.SMS and media:
        return "only allowed when channel is mms"
    if command.channel is Channel.MMS and not media:
        return f"mms needs 1..{MAX_MEDIA} https URLs"
    if len(media) > MAX_MEDIA:
        return f"must hold 1..{MAX_MEDIA} https URLs"
    if not all(is_https_url(url) for url in media):
        return URL_PROBLEM
    if mode is Mode.LIVE and len(media) > LIVE_MEDIA_LIMIT:
        return f"a live mms carries {LIVE_MEDIA_LIMIT} media URL"
    return None


def _has_controls(text: str, allowed: frozenset[str] = frozenset()) -> bool:
    return any(unicodedata.category(char) == "Cc" and char not in allowed for char in text)


def _text_problem(text: str, channel: Channel) -> str | None:
    """What the live carrier would refuse in ``text``, checked for every key alike."""
    if _has_controls(text, ALLOWED_CONTROLS):
        return "must not hold control characters other than tab, CR and LF"
    if text and text.isspace():
        return "must not be only whitespace"
    if channel is Channel.MMS:
        units = len(text.encode("utf-16-le")) // 2
        return None if 1 <= units <= MAX_MMS_UNITS else MMS_TEXT_PROBLEM
    segmentation = segment(text)
    limit = MAX_GSM7_UNITS if segmentation.encoding is Encoding.GSM7 else MAX_UCS2_UNITS
    return None if 1 <= segmentation.units <= limit else TEXT_PROBLEM


def _schedule_problem(scheduled_at: datetime | None, now: datetime) -> str | None:
    if scheduled_at is not None and not (
        now + MIN_SCHEDULE_AHEAD <= scheduled_at <= now + MAX_SCHEDULE_AHEAD
    ):
        return "must be 60 seconds to 35 days in the future"
    return None


def problems(
    command: NewMessage, *, mode: Mode, now: datetime, skip: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Every rule ``command`` breaks, one entry per field; fields in ``skip`` (already refused by the
    surface) are not looked at."""
    found: dict[str, str] = {}

    def note(name: str, problem: str | None) -> None:
        if problem is not None and name not in skip:
            found.setdefault(name, problem)

    for name, number in (("from", command.from_), ("to", command.to)):
        note(name, None if E164.fullmatch(number) else "must be E.164")  # match() would pass "\n"
    note("text", _text_problem(command.text, command.channel))
    if command.tag is not None:
        if not 1 <= len(command.tag) <= MAX_TAG:
            note("tag", f"must be 1..{MAX_TAG} chars")
        elif _has_controls(command.tag):
            note("tag", "must not hold control characters")
    if "channel" not in skip:
        note("media_urls", _media_problem(command, mode))
    if command.webhook_url is not None and not is_https_url(command.webhook_url):
        note("webhook_url", URL_PROBLEM)
    schedule_problem = _schedule_problem(command.scheduled_at, now)
    note("scheduled_at", schedule_problem)
    if command.valid_until is not None:
        usable_schedule = command.scheduled_at if schedule_problem is None else None
        floor = usable_schedule or now
        if command.valid_until <= floor:
            note("valid_until", "must be later than scheduled_at, or than now")
        elif command.valid_until > floor + MAX_SCHEDULE_AHEAD:
            note("valid_until", "must be within 35 days of scheduled_at, or of now")
    return found
