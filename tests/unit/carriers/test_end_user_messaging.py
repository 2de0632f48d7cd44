"""The AWS End User Messaging carrier: exact requests, and every error mapped to a carrier error."""

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.config import Config
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.stub import Stubber

from agentmessage.carriers.base import (
    Carrier,
    CarrierError,
    OutboundMessage,
    PermanentCarrierError,
    RetryableCarrierError,
    SendResult,
)
from agentmessage.carriers.end_user_messaging import EndUserMessagingCarrier
from agentmessage.integration.time_budget import CARRIER, PIPELINE, SEND_RESERVE

if TYPE_CHECKING:
    from mypy_boto3_pinpoint_sms_voice_v2 import PinpointSMSVoiceV2Client

TO = "+15555550123"
FROM = "+15555550100"
TEXT = "Your code is 123456"
SOURCE_URL = "https://cdn.example.com/cat.jpg"  # what the API accepts
MEDIA_URL = "s3://agentmessage-media-123456789012-us-east-1-dev/org_1/msg_1/0.jpg"  # what AWS reads
CONTEXT = {"message_id": "msg_1", "org_id": "org_1"}


class FakeStager:
    """Stands in for ``MediaStager.stage``: records each message, answers its s3:// URLs."""

    def __init__(self, error: CarrierError | None = None) -> None:
        self.staged: list[OutboundMessage] = []
        self._error = error

    def __call__(self, message: OutboundMessage) -> list[str]:
        self.staged.append(message)
        if self._error is not None:
            raise self._error
        return [MEDIA_URL]


def a_carrier(client: "PinpointSMSVoiceV2Client", **options: Any) -> EndUserMessagingCarrier:
    return EndUserMessagingCarrier(client, **({"stage_media": FakeStager()} | options))


def a_client(config: Config | None = None) -> "PinpointSMSVoiceV2Client":
    return boto3.client(
        "pinpoint-sms-voice-v2",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=config,
    )


def an_sms(text: str = TEXT) -> OutboundMessage:
    return OutboundMessage(message_id="msg_1", org_id="org_1", from_=FROM, to=TO, text=text, channel="sms")


def an_mms(text: str = TEXT) -> OutboundMessage:
    return OutboundMessage(
        message_id="msg_1",
        org_id="org_1",
        from_=FROM,
        to=TO,
        text=text,
        channel="mms",
        media_urls=(SOURCE_URL,),
    )


@pytest.fixture
def client() -> "PinpointSMSVoiceV2Client":
    return a_client()


@pytest.fixture
def stubber(client: "PinpointSMSVoiceV2Client") -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def test_it_is_a_carrier_with_its_name(client: "PinpointSMSVoiceV2Client") -> None:
    carrier: Carrier = EndUserMessagingCarrier(client)
    assert carrier.name == "aws-end-user-messaging"


# Requests


def test_sms_from_the_message_sender_without_a_configuration_set(
    client: "PinpointSMSVoiceV2Client", stubber: Stubber
) -> None:
    # Given a carrier with neither an origination identity nor a configuration set
    stubber.add_response(
        "send_text_message",
        {"MessageId": "aws-1"},
        expected_params={
            "DestinationPhoneNumber": TO,
            "OriginationIdentity": FROM,
            "MessageBody": TEXT,
            "MessageType": "TRANSACTIONAL",
            "Context": CONTEXT,
        },
    )

    # When an SMS is sent
    result = a_carrier(client).send(an_sms())

    # Then AWS got exactly that request, and the message is sent but not yet delivered
    assert result == SendResult(provider_message_id="aws-1")


def test_sms_from_the_configured_identity_with_a_configuration_set(
    client: "PinpointSMSVoiceV2Client", stubber: Stubber
) -> None:
    stubber.add_response(
        "send_text_message",
        {"MessageId": "aws-2"},
        expected_params={
            "DestinationPhoneNumber": TO,
            "OriginationIdentity": "pool-0123456789abcdef",
            "MessageBody": TEXT,
            "MessageType": "TRANSACTIONAL",
            "Context": CONTEXT,
            "ConfigurationSetName": "agentmessage-events",
        },
    )
    carrier = EndUserMessagingCarrier(
        client,
        origination_identity="pool-0123456789abcdef",
        configuration_set_name="agentmessage-events",
    )

    assert carrier.send(an_sms()) == SendResult(provider_message_id="aws-2")


def test_mms_from_the_message_sender_without_a_configuration_set(
    client: "PinpointSMSVoiceV2Client", stubber: Stubber
) -> None:
    stubber.add_response(
        "send_media_message",
        {"MessageId": "aws-3"},
        expected_params={
            "DestinationPhoneNumber": TO,
            "OriginationIdentity": FROM,
            "MessageBody": TEXT,
            "MediaUrls": [MEDIA_URL],
            "Context": CONTEXT,
        },
    )

    stager = FakeStager()
    result = EndUserMessagingCarrier(client, stage_media=stager).send(an_mms())

    assert result == SendResult(provider_message_id="aws-3")
    # and the https media was staged first, the s3:// URL sent in its place
    assert stager.staged == [an_mms()]


def test_mms_from_the_configured_identity_with_a_configuration_set(
    client: "PinpointSMSVoiceV2Client", stubber: Stubber
) -> None:
    stubber.add_response(
        "send_media_message",
        {"MessageId": "aws-4"},
        expected_params={
            "DestinationPhoneNumber": TO,
            "OriginationIdentity": "+15555550111",
            "MessageBody": TEXT,
            "MediaUrls": [MEDIA_URL],
            "Context": CONTEXT,
            "ConfigurationSetName": "agentmessage-events",
        },
    )
    carrier = a_carrier(
        client, origination_identity="+15555550111", configuration_set_name="agentmessage-events"
    )

    assert carrier.send(an_mms()) == SendResult(provider_message_id="aws-4")


def test_mms_without_text_sends_only_the_media(client: "PinpointSMSVoiceV2Client", stubber: Stubber) -> None:
    # MessageBody has a minimum length of 1, so an empty body is left out rather than rejected
    stubber.add_response(
        "send_media_message",
        {"MessageId": "aws-5"},
        expected_params={
            "DestinationPhoneNumber": TO,
            "OriginationIdentity": FROM,
            "MediaUrls": [MEDIA_URL],
            "Context": CONTEXT,
        },
    )

    assert a_carrier(client).send(an_mms(text="")).provider_message_id == "aws-5"


def test_an_unknown_channel_is_rejected_without_a_call(
    client: "PinpointSMSVoiceV2Client", stubber: Stubber
) -> None:
    message = OutboundMessage(message_id="m", org_id="o", from_=FROM, to=TO, text=TEXT, channel="fax")

    with pytest.raises(CarrierError) as raised:
        a_carrier(client).send(message)

    assert (raised.value.code, raised.value.retryable) == ("CARRIER_REJECTED", False)


# Media staging, before any send


def test_an_mms_with_more_media_than_aws_takes_is_refused_before_staging(
    client: "PinpointSMSVoiceV2Client", stubber: Stubber
) -> None:
    # Given an MMS with two media URLs (the API accepts up to 10; SendMediaMessage takes one)
    stager = FakeStager()
    message = OutboundMessage(
        message_id="msg_1",
        org_id="org_1",
        from_=FROM,
        to=TO,
        text=TEXT,
        channel="mms",
        media_urls=(SOURCE_URL, "https://cdn.example.com/dog.png"),
    )

    # When it is sent
    with pytest.raises(CarrierError) as raised:
        EndUserMessagingCarrier(client, stage_media=stager).send(message)

    # Then nothing was fetched or sent (the Stubber holds no response), and it never will be
    assert (raised.value.code, raised.value.retryable) == ("MEDIA_TOO_MANY", False)
    assert stager.staged == []


def test_an_mms_without_a_media_bucket_is_refused_without_a_call(
    client: "PinpointSMSVoiceV2Client", stubber: Stubber
) -> None:
    with pytest.raises(CarrierError) as raised:
        EndUserMessagingCarrier(client).send(an_mms())

    assert (raised.value.code, raised.value.retryable) == ("MEDIA_STAGING_REJECTED", False)


@pytest.mark.parametrize(
    "error",
    [
        RetryableCarrierError("MEDIA_FETCH_FAILED", "media_urls[0]: the media host answered HTTP 503"),
        PermanentCarrierError("MEDIA_TOO_LARGE", "media_urls[0]: more than 2000000 bytes of image/png"),
    ],
    ids=["retryable", "permanent"],
)
def test_a_staging_failure_is_raised_as_it_is_and_nothing_is_sent(
    client: "PinpointSMSVoiceV2Client", stubber: Stubber, error: CarrierError
) -> None:
    # Given staging fails (the Stubber would fail the test on any send call)
    carrier = EndUserMessagingCarrier(client, stage_media=FakeStager(error))

    # When an MMS is sent
    with pytest.raises(CarrierError) as raised:
        carrier.send(an_mms())

    # Then the staging error is the answer: a retry is safe, since nothing was sent
    assert raised.value is error


class BrokenStager:
    """Staging that fails with an exception that is not a carrier error."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    def __call__(self, message: OutboundMessage) -> list[str]:
        raise self._error


@pytest.mark.parametrize(
    "error",
    [
        UnicodeEncodeError(
            "ascii", f"GET {SOURCE_URL}?q=\u00e9 HTTP/1.1", 40, 41, "ordinal not in range(128)"
        ),
        UnicodeError(f"encoding with 'idna' codec failed: {SOURCE_URL}"),
        KeyError(SOURCE_URL),
    ],
    ids=lambda error: type(error).__name__,
)
def test_any_other_staging_exception_fails_the_mms_without_a_call(
    client: "PinpointSMSVoiceV2Client", stubber: Stubber, error: Exception
) -> None:
    # Given staging raises something other than a carrier error, its text holding the URL
    carrier = EndUserMessagingCarrier(client, stage_media=BrokenStager(error))

    # When an MMS is sent (the Stubber holds no response: any send call would fail the test)
    with pytest.raises(PermanentCarrierError) as raised:
        carrier.send(an_mms())

    # Then it is a permanent carrier error the dispatcher records (nothing was sent), by type only
    assert (raised.value.code, raised.value.retryable) == ("MEDIA_STAGING_FAILED", False)
    assert raised.value.detail == f"{type(error).__name__} while staging the media"
    assert raised.value.__cause__ is error


# Time left in the invocation


def calls_to(client: "PinpointSMSVoiceV2Client") -> list[str]:
    """The operations called on the client, each recorded before any Stubber answers it."""
    calls: list[str] = []

    def record(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    client.meta.events.register("provide-client-params.pinpoint-sms-voice-v2", record)
    return calls


def test_the_send_reserve_covers_the_call_and_one_record_write() -> None:
    # One attempt of the send call (its connect and read timeouts), then the DynamoDB write that
    # records it, at its worst with its retry
    config: Any = CARRIER.config
    assert config.retries["total_max_attempts"] == 1
    assert CARRIER.worst_seconds == config.connect_timeout + config.read_timeout == 10
    assert CARRIER.worst_seconds + PIPELINE.worst_seconds == SEND_RESERVE


@pytest.mark.parametrize("channel", ["sms", "mms"])
def test_with_too_little_time_left_the_send_is_not_started(
    client: "PinpointSMSVoiceV2Client", stubber: Stubber, channel: str
) -> None:
    # Given just under the send reserve left in the invocation
    calls = calls_to(client)
    carrier = a_carrier(client)

    # When a message is sent (the Stubber holds no response: any call would fail the test)
    with pytest.raises(CarrierError) as raised:
        carrier.send(an_sms() if channel == "sms" else an_mms(), time_left=lambda: SEND_RESERVE - 0.001)

    # Then AWS was never called, and the message is released to be tried again
    assert calls == []
    assert isinstance(raised.value, RetryableCarrierError)
    assert (raised.value.code, raised.value.detail) == (
        "SEND_NOT_STARTED",
        "too little time left in this invocation to send and record",
    )


def test_with_the_send_reserve_left_the_message_is_sent(
    client: "PinpointSMSVoiceV2Client", stubber: Stubber
) -> None:
    stubber.add_response("send_text_message", {"MessageId": "aws-6"})
    calls = calls_to(client)

    result = a_carrier(client).send(an_sms(), time_left=lambda: float(SEND_RESERVE))

    assert result.provider_message_id == "aws-6"
    assert calls == ["SendTextMessage"]


def test_the_time_left_is_read_after_staging(client: "PinpointSMSVoiceV2Client", stubber: Stubber) -> None:
    # Given the send reserve and 10 s more left before staging, and staging that takes 11 s of it
    clock = {"left": SEND_RESERVE + 10.0}

    def slow_stage(message: OutboundMessage) -> list[str]:
        clock["left"] -= 11
        return [MEDIA_URL]

    carrier = EndUserMessagingCarrier(client, stage_media=slow_stage)

    # When an MMS is sent, then nothing is: 1 s under the reserve was left when the call would start
    with pytest.raises(RetryableCarrierError) as raised:
        carrier.send(an_mms(), time_left=lambda: clock["left"])
    assert raised.value.code == "SEND_NOT_STARTED"


# AWS error responses

ERROR_CASES = [
    # error code, HTTP status, modeled fields, expected code, expected retryable
    ("ThrottlingException", 429, None, "CARRIER_THROTTLED", True),
    # A 5xx may come after AWS accepted the message: never resent, like a read timeout
    ("InternalServerException", 500, {"RequestId": "req-1"}, "CARRIER_OUTCOME_UNKNOWN", False),
    ("ServiceUnavailableException", 503, None, "CARRIER_OUTCOME_UNKNOWN", False),
    (
        "ConflictException",
        409,
        {"Reason": "DESTINATION_PHONE_NUMBER_OPTED_OUT", "ResourceType": "opted-out-number"},
        "DESTINATION_OPTED_OUT",
        False,
    ),
    ("ConflictException", 409, {"Reason": "RESOURCE_NOT_ACTIVE"}, "CARRIER_REJECTED", False),
    ("ConflictException", 409, None, "CARRIER_REJECTED", False),
    ("ValidationException", 400, {"Reason": "CANNOT_PARSE"}, "INVALID_DESTINATION", False),
    ("ValidationException", 400, {"Reason": "DESTINATION_COUNTRY_BLOCKED"}, "INVALID_DESTINATION", False),
    (
        "ValidationException",
        400,
        {"Reason": "INVALID_IDENTITY_FOR_DESTINATION_COUNTRY"},
        "INVALID_DESTINATION",
        False,
    ),
    ("ValidationException", 400, {"Reason": "COUNTRY_NOT_ENABLED"}, "INVALID_DESTINATION", False),
    ("ValidationException", 400, {"Reason": "MEDIA_TYPE_NOT_SUPPORTED"}, "CARRIER_REJECTED", False),
    ("ValidationException", 400, None, "CARRIER_REJECTED", False),
    (
        "ServiceQuotaExceededException",
        402,
        {"Reason": "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT"},
        "CARRIER_QUOTA_EXCEEDED",
        False,
    ),
    ("AccessDeniedException", 403, {"Reason": "ACCOUNT_DISABLED"}, "CARRIER_REJECTED", False),
    ("ResourceNotFoundException", 404, {"ResourceType": "configuration-set"}, "CARRIER_REJECTED", False),
    ("SomethingNewException", 400, None, "CARRIER_REJECTED", False),
]


@pytest.mark.parametrize(
    ("error_code", "status", "modeled_fields", "expected_code", "expected_retryable"),
    ERROR_CASES,
    ids=[f"{case[0]}-{(case[2] or {}).get('Reason', 'no-reason')}" for case in ERROR_CASES],
)
@pytest.mark.parametrize("channel", ["sms", "mms"])
def test_an_aws_error_becomes_a_carrier_error(
    client: "PinpointSMSVoiceV2Client",
    stubber: Stubber,
    channel: str,
    error_code: str,
    status: int,
    modeled_fields: dict[str, str] | None,
    expected_code: str,
    expected_retryable: bool,
) -> None:
    # Given AWS answers with an error whose message repeats the destination and the text
    stubber.add_client_error(
        "send_text_message" if channel == "sms" else "send_media_message",
        service_error_code=error_code,
        service_message=f"Cannot send '{TEXT}' to {TO}",
        http_status_code=status,
        modeled_fields=modeled_fields,
    )
    message = an_sms() if channel == "sms" else an_mms()

    # When the message is sent
    with pytest.raises(CarrierError) as raised:
        a_carrier(client).send(message)

    # Then the error is mapped by code and reason, and its detail carries neither
    error = raised.value
    assert (error.code, error.retryable) == (expected_code, expected_retryable)
    assert error.detail.startswith(error_code)
    if modeled_fields and "Reason" in modeled_fields:
        assert modeled_fields["Reason"] in error.detail
    assert TO not in error.detail
    assert TEXT not in error.detail
    assert isinstance(error.__cause__, Exception)


def test_a_reason_parsed_from_a_real_error_body_is_used(client: "PinpointSMSVoiceV2Client") -> None:
    # Given AWS's JSON error body, parsed by botocore itself rather than built by the Stubber
    body = (
        b'{"__type":"ConflictException","Message":"opted out",'
        b'"Reason":"DESTINATION_PHONE_NUMBER_OPTED_OUT","ResourceType":"opted-out-number"}'
    )
    headers = {"x-amzn-requestid": "req-1", "content-type": "application/x-amz-json-1.0"}
    client.meta.events.register(
        "before-send.pinpoint-sms-voice-v2.SendTextMessage", _answer(_Response(400, headers, body))
    )

    with pytest.raises(CarrierError) as raised:
        a_carrier(client).send(an_sms())

    assert raised.value.code == "DESTINATION_OPTED_OUT"


# Transport failures, raised where botocore's HTTP layer would raise them


class _RawBody:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class _Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


def _answer(response: _Response) -> Callable[..., Any]:
    def handler(request: Any, **_: Any) -> AWSResponse:
        headers = HTTPHeaders()
        for name, value in response.headers.items():
            headers[name] = value
        return AWSResponse(request.url, response.status, headers, _RawBody(response.body))

    return handler


def _failing_transport(error: Exception, calls: list[str]) -> Callable[..., None]:
    def handler(request: Any, **_: Any) -> None:
        calls.append(request.url)
        raise error

    return handler


URL = "https://sms-voice.us-east-1.amazonaws.com/"
TRANSPORT_CASES = [
    (EndpointConnectionError(endpoint_url=URL), "CARRIER_UNAVAILABLE", True),
    (ConnectTimeoutError(endpoint_url=URL), "CARRIER_UNAVAILABLE", True),
    (ReadTimeoutError(endpoint_url=URL), "CARRIER_OUTCOME_UNKNOWN", False),
    (ConnectionClosedError(endpoint_url=URL), "CARRIER_OUTCOME_UNKNOWN", False),
]


@pytest.mark.parametrize(
    ("transport_error", "expected_code", "expected_retryable"),
    TRANSPORT_CASES,
    ids=[type(case[0]).__name__ for case in TRANSPORT_CASES],
)
@pytest.mark.parametrize("channel", ["sms", "mms"])
def test_a_transport_failure_is_mapped_and_never_resent(
    channel: str, transport_error: Exception, expected_code: str, expected_retryable: bool
) -> None:
    # Given a client built with the carrier's config, whose HTTP layer fails
    client = a_client(CARRIER.config)
    calls: list[str] = []
    operation = "SendTextMessage" if channel == "sms" else "SendMediaMessage"
    client.meta.events.register(
        f"before-send.pinpoint-sms-voice-v2.{operation}", _failing_transport(transport_error, calls)
    )
    message = an_sms() if channel == "sms" else an_mms()

    # When the message is sent
    with pytest.raises(CarrierError) as raised:
        a_carrier(client).send(message)

    # Then botocore made exactly one attempt, and the error says whether a retry is safe
    assert len(calls) == 1
    error = raised.value
    assert (error.code, error.retryable) == (expected_code, expected_retryable)
    assert error.__cause__ is transport_error
    assert TO not in error.detail
    assert URL not in error.detail


def test_a_request_that_fails_validation_is_rejected_before_sending(
    client: "PinpointSMSVoiceV2Client",
) -> None:
    # Given an empty SMS body, below MessageBody's minimum length
    calls: list[str] = []
    client.meta.events.register(
        "before-send.pinpoint-sms-voice-v2.SendTextMessage",
        _failing_transport(AssertionError("nothing should be sent"), calls),
    )

    # When it is sent, botocore refuses it locally
    with pytest.raises(CarrierError) as raised:
        a_carrier(client).send(an_sms(text=""))

    # Then nothing went out, and it can never be sent as it is
    assert calls == []
    assert (raised.value.code, raised.value.retryable) == ("CARRIER_REJECTED", False)
    assert raised.value.detail.startswith("ParamValidationError")
