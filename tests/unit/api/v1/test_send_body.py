"""The v1 send body through acceptance: every field checked (the format by the v1 model, the rules by
the domain), one ``details`` entry per bad field in v1's names, nothing else passes."""

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from agentmessage.api.errors import BadRequest
from agentmessage.api.json_body import parse_json_object
from agentmessage.api.v1.requests import SendMessageRequest, accept_body
from agentmessage.domain import clock
from agentmessage.domain.accept import accept_message
from agentmessage.domain.caller import Caller
from agentmessage.domain.errors import ValidationFailed
from agentmessage.domain.message import Channel, Message, Mode, Priority
from agentmessage.domain.rules import TEXT_PROBLEM
from tests.support.fakes import FakeTriggers, InMemoryMessageRepository
from tests.support.messages import ORG, RECIPIENT, SENDER, send_body, without

NOW = datetime(2026, 11, 22, 6, 0, 0, tzinfo=UTC)
HTTPS = "https://cdn.example.com/cat.png"


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    monkeypatch.setattr(clock, "utc_now", lambda: NOW)
    return NOW


def at(delta: timedelta) -> str:
    return clock.to_iso(NOW + delta)


def accepted(payload: dict[str, Any], mode: Mode = Mode.TEST) -> Message:
    """The message stored when ``payload`` is sent with a key of ``mode`` at ``NOW``."""
    repository = InMemoryMessageRepository()
    sender = Caller(org_id=ORG, key_id="key_1", mode=mode, scopes=frozenset({"messages:send"}))
    use_case = partial(accept_message, caller=sender, repository=repository, triggers=FakeTriggers(), now=NOW)
    shown = accept_body(payload, sender, now=NOW, accept=use_case)
    (message,) = repository.all()
    assert shown["id"] == message.id
    return message


def details_of(payload: dict[str, Any], mode: Mode = Mode.TEST) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as failed:
        accepted(payload, mode)
    assert failed.value.details
    return failed.value.details


def test_a_minimal_body_gets_the_defaults() -> None:
    # Given from, to and text only
    # When it is parsed
    message = accepted(send_body())

    # Then the optional fields take their defaults
    assert (message.from_, message.to, message.text) == (SENDER, RECIPIENT, "Your code is 123456")
    assert (message.channel, message.priority) == (Channel.SMS, Priority.DEFAULT)
    assert message.tag is None
    assert message.scheduled_at is None
    assert message.valid_until is None
    assert message.media_urls == ()


def test_every_optional_field_is_accepted_when_valid() -> None:
    # Given a body using every field
    body = send_body(
        channel="mms",
        media_urls=[HTTPS],
        priority="high",
        tag="t" * 64,
        scheduled_at=at(timedelta(hours=1)),
        valid_until=at(timedelta(hours=2)),
        webhook_url="https://hooks.example.com/am",
    )

    # When it is parsed
    message = accepted(body)

    # Then each field is kept
    assert (message.channel, message.media_urls, message.priority) == (Channel.MMS, (HTTPS,), Priority.HIGH)
    assert message.scheduled_at == NOW + timedelta(hours=1)
    assert message.valid_until == NOW + timedelta(hours=2)
    assert message.webhook_url == "https://hooks.example.com/am"


# --- from / to: E.164 ---------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["+12", "+441632960961", "+" + "9" * 15])
def test_e164_numbers_are_accepted(number: str) -> None:
    assert accepted(send_body(to=number, from_=number)).to == number


@pytest.mark.parametrize(
    "number",
    [
        "15555550123",  # no plus
        "+05555550123",  # leading zero
        "+1 555 555 0123",
        "+1-555-555-0123",
        "+" + "9" * 16,  # 16 digits
        "+",
        "+1",  # a country code alone
        "",
        "+1555555012a",
        "+١٢٣٤٥٦٧",  # non-ASCII digits
        "+15555550123\n",  # a trailing newline is not part of a number
    ],
)
@pytest.mark.parametrize("field", ["to", "from"])
def test_a_number_that_is_not_e164_is_named(field: str, number: str) -> None:
    # Given a body whose number is not E.164
    payload = send_body() | {field: number}

    # When it is parsed
    # Then exactly that field is named
    assert details_of(payload) == {field: "must be E.164"}


@pytest.mark.parametrize("field", ["to", "from"])
def test_a_missing_number_is_required(field: str) -> None:
    assert details_of(without(send_body(), field)) == {field: "is required"}


@pytest.mark.parametrize("value", [15555550123, None, ["+15555550123"]])
def test_a_number_that_is_not_a_string_is_named(value: Any) -> None:
    assert set(details_of(send_body(to=value))) == {"to"}


# --- text and its alias body ----------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 1530])
@pytest.mark.parametrize("field", ["text", "body"])
def test_a_gsm7_text_of_1_to_1530_characters_is_accepted_under_either_name(field: str, length: int) -> None:
    # Given a text at a bound, as text or as body
    payload = without(send_body(), "text") | {field: "x" * length}

    # When it is sent
    # Then it is the message's text
    assert accepted(payload).text == "x" * length


@pytest.mark.parametrize("length", [0, 1531])
@pytest.mark.parametrize("field", ["text", "body"])
def test_a_gsm7_text_outside_1_to_1530_characters_is_named(field: str, length: int) -> None:
    payload = without(send_body(), "text") | {field: "x" * length}
    assert details_of(payload) == {field: TEXT_PROBLEM}


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("€" * 765, True),  # an extension character is two septets: 1530
        ("€" * 765 + "x", False),
        ("ж" * 630, True),  # UCS-2: 630 UTF-16 units
        ("ж" * 631, False),
        ("😀" * 315, True),  # a character outside the BMP is two units: 630
        ("😀" * 315 + "ж", False),
    ],
    ids=["extension-1530", "extension-1531", "ucs2-630", "ucs2-631", "emoji-630", "emoji-631"],
)
def test_the_limit_is_counted_as_the_live_carrier_counts(text: str, ok: bool) -> None:
    # Given texts at the live carrier's limit, in its units (GSM-7 septets, or UTF-16 units)
    # Then exactly those within it are accepted, for every key alike
    for mode in Mode:
        if ok:
            assert accepted(send_body(text=text), mode).text == text
        else:
            assert details_of(send_body(text=text), mode) == {"text": TEXT_PROBLEM}


@pytest.mark.parametrize(("text", "ok"), [("x" * 1600, True), ("x" * 1601, False), ("😀" * 800, True)])
def test_an_mms_text_is_counted_in_utf16_units_up_to_1600(text: str, ok: bool) -> None:
    body = send_body(text=text, channel="mms", media_urls=[HTTPS])
    if ok:
        assert accepted(body).text == text
    else:
        assert details_of(body) == {"text": "must be 1..1600 characters"}


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\f", "\v"])
def test_control_characters_other_than_tab_cr_and_lf_are_refused_in_text(char: str) -> None:
    details = details_of(send_body(text=f"Your code{char} is 123456"))
    assert details == {"text": "must not hold control characters other than tab, CR and LF"}


def test_tab_cr_and_lf_are_text() -> None:
    assert accepted(send_body(text="Line one\r\nLine two\tend")).text == "Line one\r\nLine two\tend"


@pytest.mark.parametrize("text", [" ", "\n", " \t\r\n ", "\u3000"])
def test_a_text_of_only_whitespace_is_refused(text: str) -> None:
    assert details_of(send_body(text=text)) == {"text": "must not be only whitespace"}


@pytest.mark.parametrize("char", ["\t", "\n", "\x00", "\x7f"])
def test_any_control_character_is_refused_in_a_tag(char: str) -> None:
    assert details_of(send_body(tag=f"order{char}7421")) == {"tag": "must not hold control characters"}


def test_text_and_body_together_are_refused() -> None:
    assert details_of(send_body(body="also")) == {"body": "give text or body, not both"}


def test_without_text_or_body_text_is_required() -> None:
    assert details_of(without(send_body(), "text")) == {"text": "is required (text, or its alias body)"}


def test_text_must_be_a_string() -> None:
    assert set(details_of(send_body(text=12345))) == {"text"}


# --- channel, priority, tag -----------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["fax", "SMS", "", 1])
def test_an_unknown_channel_is_named(channel: Any) -> None:
    assert set(details_of(send_body(channel=channel))) == {"channel"}


@pytest.mark.parametrize("priority", ["urgent", "HIGH", "", None])
def test_an_unknown_priority_is_named(priority: Any) -> None:
    assert set(details_of(send_body(priority=priority))) == {"priority"}


@pytest.mark.parametrize("tag", ["t", "t" * 64, None])
def test_a_tag_of_1_to_64_chars_or_null_is_accepted(tag: str | None) -> None:
    assert accepted(send_body(tag=tag)).tag == tag


@pytest.mark.parametrize("tag", ["", "t" * 65])
def test_a_tag_outside_1_to_64_chars_is_named(tag: str) -> None:
    assert details_of(send_body(tag=tag)) == {"tag": "must be 1..64 chars"}


# --- scheduled_at: 60 s .. 35 days ahead ------------------------------------------------------------


@pytest.mark.parametrize(
    "delta", [timedelta(seconds=60), timedelta(hours=1), timedelta(days=35)], ids=["60s", "1h", "35d"]
)
def test_scheduled_at_within_the_window_is_accepted(delta: timedelta) -> None:
    assert accepted(send_body(scheduled_at=at(delta))).scheduled_at == NOW + delta


@pytest.mark.parametrize(
    "delta",
    [timedelta(seconds=59), timedelta(0), timedelta(minutes=-5), timedelta(days=35, seconds=1)],
    ids=["59s", "now", "past", "35d+1s"],
)
def test_scheduled_at_outside_the_window_is_named(delta: timedelta) -> None:
    assert details_of(send_body(scheduled_at=at(delta))) == {
        "scheduled_at": "must be 60 seconds to 35 days in the future"
    }


def test_scheduled_at_in_another_timezone_is_kept_as_utc() -> None:
    # Given 09:00 at +02:00, which is 07:00 UTC
    message = accepted(send_body(scheduled_at="2026-11-22T09:00:00+02:00"))

    # Then it is one hour from now, in UTC
    assert message.scheduled_at == NOW + timedelta(hours=1)
    assert message.scheduled_at is not None
    assert message.scheduled_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", ["2026-11-22T07:00:00", "tomorrow", "", "2026-13-01T00:00:00Z"])
def test_scheduled_at_without_timezone_or_unreadable_is_named(value: str) -> None:
    assert set(details_of(send_body(scheduled_at=value))) == {"scheduled_at"}


# --- valid_until ----------------------------------------------------------------------------------


def test_valid_until_later_than_now_is_accepted() -> None:
    assert accepted(send_body(valid_until=at(timedelta(minutes=5)))).valid_until == NOW + timedelta(minutes=5)


@pytest.mark.parametrize("delta", [timedelta(0), timedelta(minutes=-1)], ids=["now", "past"])
def test_valid_until_not_after_now_is_named(delta: timedelta) -> None:
    assert set(details_of(send_body(valid_until=at(delta)))) == {"valid_until"}


def test_valid_until_must_be_after_scheduled_at() -> None:
    # Given a send scheduled in two hours that is only valid for one
    payload = send_body(scheduled_at=at(timedelta(hours=2)), valid_until=at(timedelta(hours=1)))

    # Then valid_until is named, not scheduled_at
    assert set(details_of(payload)) == {"valid_until"}


def test_valid_until_more_than_35_days_out_is_named() -> None:
    assert set(details_of(send_body(valid_until=at(timedelta(days=35, seconds=1))))) == {"valid_until"}


def test_valid_until_without_timezone_is_named() -> None:
    assert set(details_of(send_body(valid_until="2026-11-22T07:00:00"))) == {"valid_until"}


# --- media_urls -----------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 10])
def test_mms_takes_1_to_10_https_urls(count: int) -> None:
    urls = [f"https://cdn.example.com/{index}.png" for index in range(count)]
    assert accepted(send_body(channel="mms", media_urls=urls)).media_urls == tuple(urls)


@pytest.mark.parametrize(
    "urls",
    [None, [], [HTTPS] * 11],
    ids=["none", "empty", "eleven"],
)
def test_mms_without_1_to_10_urls_is_named(urls: list[str] | None) -> None:
    payload = send_body(channel="mms") if urls is None else send_body(channel="mms", media_urls=urls)
    assert set(details_of(payload)) == {"media_urls"}


@pytest.mark.parametrize(
    "url",
    [
        "http://cdn.example.com/cat.png",
        "ftp://cdn.example.com/cat.png",
        "https://",
        "cat.png",
        "https://" + "a" * 2048,
    ],
)
def test_mms_urls_must_be_https(url: str) -> None:
    assert set(details_of(send_body(channel="mms", media_urls=[HTTPS, url]))) == {"media_urls"}


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/café.png",
        "https://example.com/cat.png?q=é",
        "https://bücher.example/cat.png",
        "https://" + "a" * 64 + ".com/cat.png",
        "https://a..com/cat.png",
        "https://[::1/cat.png",
        "https://example.com/cat\n.png",
    ],
    ids=[
        "non-ascii-path",
        "non-ascii-query",
        "non-ascii-host",
        "long-label",
        "empty-label",
        "bad-ipv6",
        "newline",
    ],
)
def test_urls_must_be_ascii_with_a_host_dns_can_carry(url: str) -> None:
    # Then each is one details entry, as a URL that no fetcher could request
    for body in (send_body(channel="mms", media_urls=[url]), send_body(webhook_url=url)):
        details = details_of(body)
        assert len(details) == 1
        assert next(iter(details.values())) == "must be an https URL of at most 2048 ASCII characters"


@pytest.mark.parametrize(
    "url",
    [
        "https://xn--bcher-kva.example/cat.png",
        "https://example.com/caf%C3%A9.png?q=%C3%A9",
        "https://1.2.3.4/x",
    ],
)
def test_encoded_forms_of_those_urls_are_accepted(url: str) -> None:
    assert accepted(send_body(channel="mms", media_urls=[url])).media_urls == (url,)


def test_sms_with_media_urls_is_refused() -> None:
    assert details_of(send_body(media_urls=[HTTPS])) == {"media_urls": "only allowed when channel is mms"}


def test_media_urls_must_be_a_list() -> None:
    assert set(details_of(send_body(channel="mms", media_urls=HTTPS))) == {"media_urls"}


# --- webhook_url, unknown fields, several bad fields ------------------------------------------------


@pytest.mark.parametrize("url", ["http://hooks.example.com", "not a url"])
def test_a_webhook_url_must_be_https(url: str) -> None:
    assert set(details_of(send_body(webhook_url=url))) == {"webhook_url"}


@pytest.mark.parametrize("name", ["colour", "From", "from_", "media_url", "org_id", "status", "id"])
def test_an_unknown_field_is_named(name: str) -> None:
    assert details_of(send_body() | {name: "x"}) == {name: "unknown field"}


def test_the_python_name_of_from_is_not_an_alias() -> None:
    # Given a body that names the sender "from_" (the model's attribute, not an API field)
    payload = without(send_body(), "from") | {"from_": SENDER}

    # Then "from" is missing and "from_" is unknown
    assert details_of(payload) == {"from": "is required", "from_": "unknown field"}


def test_each_bad_field_is_named_once() -> None:
    # Given a body where almost everything is wrong
    payload = {
        "from": "sender",
        "to": "recipient",
        "text": "",
        "channel": "fax",
        "priority": "urgent",
        "tag": "",
        "scheduled_at": "yesterday",
        "webhook_url": "http://x",
        "colour": "blue",
    }

    # When it is parsed
    details = details_of(payload)

    # Then there is one entry per bad field, and only those
    assert set(details) == {
        "from", "to", "text", "channel", "priority", "tag", "scheduled_at", "webhook_url", "colour",
    }  # fmt: skip
    assert all(isinstance(message, str) and message for message in details.values())


def test_details_never_echo_the_input() -> None:
    # Given bad values that carry a distinctive string
    secret = "Zebra7731"
    details = details_of(send_body(to=secret, channel=secret, tag=secret * 10, colour=secret))

    # Then no message repeats it (field names may)
    assert not any(secret in message for message in details.values())


def test_the_model_refuses_unknown_fields_itself() -> None:
    assert SendMessageRequest.model_config.get("extra") == "forbid"


# --- the body as a JSON object ----------------------------------------------------------------------


def test_a_json_object_is_parsed() -> None:
    assert parse_json_object('{"to": "+15555550123"}') == {"to": "+15555550123"}


@pytest.mark.parametrize(
    "raw",
    [None, "", "{", "not json", "[]", "[{}]", '"text"', "42", "null", "true", "[" * 100_000],
    ids=[
        "none",
        "empty",
        "truncated",
        "garbage",
        "list",
        "list-of-object",
        "string",
        "number",
        "null",
        "true",
        "deep",
    ],
)
def test_anything_but_a_json_object_is_bad_request(raw: str | None) -> None:
    with pytest.raises(BadRequest):
        parse_json_object(raw)


@pytest.mark.parametrize(
    "raw",
    ['{"text": "\\ud800"}', '{"tag": "ok\\udc00"}', '{"\\ud83d": "key"}', '{"media_urls": ["\\udfff"]}'],
    ids=["lone-high", "lone-low-in-tag", "in-a-key", "in-a-list"],
)
def test_an_unpaired_surrogate_anywhere_is_bad_request(raw: str) -> None:
    # Given JSON whose escapes make a string no UTF-8 store or answer can hold
    # When it is read
    with pytest.raises(BadRequest) as refused:
        parse_json_object(raw)

    # Then it is refused as a bad body, saying why
    assert "surrogate" in refused.value.message


def test_a_paired_surrogate_escape_is_an_ordinary_character() -> None:
    assert parse_json_object('{"text": "\\ud83d\\ude00"}') == {"text": "\U0001f600"}


# --- no text at all ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "texts",
    [{}, {"text": None}, {"body": None}, {"text": None, "body": None}],
    ids=["absent", "text-null", "body-null", "both-null"],
)
def test_a_missing_or_null_text_is_named_in_details(texts: dict[str, Any]) -> None:
    # Given a body whose text is absent or null, everything else valid
    body = {**without(send_body(), "text"), **texts}

    # Then validation names text, once
    assert details_of(body) == {"text": "is required (text, or its alias body)"}


def test_a_null_text_beside_another_bad_field_names_both() -> None:
    details = details_of({**send_body(to="12"), "text": None})
    assert set(details) == {"to", "text"}


# --- timestamps at the edge of the calendar -------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    ["scheduled_at", "valid_until"],
)
@pytest.mark.parametrize(
    "value", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"], ids=["past-9999", "before-1"]
)
def test_an_offset_that_leaves_the_calendar_is_a_validation_error(field: str, value: str) -> None:
    # Given a timestamp that exists only in its own offset, not in UTC
    # Then it is one details entry, not an OverflowError
    details = details_of(send_body(**{field: value}))
    assert details == {field: "must be an ISO 8601 timestamp within the calendar"}


@pytest.mark.parametrize("field", ["scheduled_at", "valid_until"])
@pytest.mark.parametrize(
    "value", [1795330800, 1795330800.5, "1795330800", "2026-W47-7T07:00:00Z", "2026-11-22"]
)
def test_timestamps_are_iso_8601_strings_only(field: str, value: Any) -> None:
    # Given an epoch number (or its text), a week date or a bare date
    # Then it is refused: a timestamp is an ISO 8601 date and time, with a timezone
    assert details_of(send_body(**{field: value})) == {field: "must be an ISO 8601 timestamp with a timezone"}


@pytest.mark.parametrize(
    "value", ["2026-11-22T07:00:00Z", "2026-11-22T07:00:00.000000000+00:00", "2026-11-22 08:00:00+0100"]
)
def test_the_iso_8601_forms_clients_write_are_read(value: str) -> None:
    assert accepted(send_body(scheduled_at=value)).scheduled_at == NOW + timedelta(hours=1)


def test_json_as_deep_as_the_limit_reads_and_one_level_more_is_refused() -> None:
    from agentmessage.api.json_body import MAX_DEPTH

    at_limit = '{"a": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"
    assert parse_json_object(at_limit)
    with pytest.raises(BadRequest):
        parse_json_object('{"a": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}")
