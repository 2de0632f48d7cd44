"""The dispatcher's wiring of media staging: made only for a live MMS, in the configured bucket."""

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError
from botocore.stub import Stubber

from agentmessage.carriers.base import CarrierError, OutboundMessage
from agentmessage.carriers.media import Media, MediaStager
from agentmessage.integration.time_budget import MEDIA_PUT
from agentmessage_local.template import ROOT

BUCKET = "agentmessage-media-123456789012-us-east-1-dev"
SOURCE = "https://cdn.example.com/images/cat.png?v=2&token=s3cr3t"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1024
TO, FROM, TEXT = "+15555550123", "+15555550100", "Your code is 123456"
DISPATCH_ENV = {
    "MESSAGES_TABLE": "messages",
    "SMS_PRICE_PER_PART": "0.0079",
    "MMS_PRICE_PER_PART": "0.0200",
    "MEDIA_BUCKET": BUCKET,
    "RECEIPTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:receipts",
    "CONFIGURATION_SET_NAME": "",
}


def an_mms() -> OutboundMessage:
    return OutboundMessage("msg_1", "org_1", FROM, TO, TEXT, "mms", media_urls=(SOURCE,))


def png(url: str) -> Media:
    return Media(PNG, "image/png")


def test_the_dispatchers_s3_client_puts_once_with_the_media_put_limits() -> None:
    from agentmessage.integration import aws_clients

    # Given the dispatcher's own S3 client, whose every put times out
    client: Any = aws_clients.s3()
    attempts: list[str] = []

    def time_out(request: Any, **_: Any) -> None:
        attempts.append(request.url)
        raise ReadTimeoutError(endpoint_url=request.url)

    client.meta.events.register("before-send.s3.PutObject", time_out)

    # When media is staged with it
    with pytest.raises(CarrierError) as raised:
        MediaStager(client, BUCKET, fetch=png).stage(an_mms())

    # Then botocore tried once (the release and a later dispatch retry it), within MEDIA_PUT's timeouts
    assert len(attempts) == 1
    assert (raised.value.code, raised.value.retryable) == ("MEDIA_STAGING_UNAVAILABLE", True)
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (
        MEDIA_PUT.connect,
        MEDIA_PUT.read,
    )


def test_no_function_imports_the_media_code_or_makes_an_s3_client_at_import() -> None:
    # Every function's module, imported as Lambda would at init, in a fresh interpreter
    names = sorted(path.parent.name for path in (ROOT / "functions").glob("*/app.py"))
    script = (
        "import sys\n"
        "from agentmessage.integration import aws_clients\n"
        f"for name in {names!r}:\n"
        "    __import__(f'functions.{name}.app')\n"
        "assert 'agentmessage.carriers.media' not in sys.modules, 'media imported'\n"
        "assert not [made for made in aws_clients.made() if made[0] == 's3'], 's3 client made'\n"
    )
    environment = {
        "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'common'}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "agentmessage",
        "POWERTOOLS_METRICS_NAMESPACE": "AgentMessage",
        # Each function validates its environment at init
        "API_KEYS_TABLE": "api-keys",
        "SCHEDULE_GROUP": "group",
        "IDEMPOTENCY_TABLE": "idempotency",
        "DISPATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dispatch",
        "DISPATCH_QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:dispatch",
        "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/scheduler",
        "SCHEDULE_DLQ_ARN": "arn:aws:sqs:us-east-1:123456789012:dlq",
    } | DISPATCH_ENV

    completed = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert len(names) >= 6
    assert completed.returncode == 0, completed.stderr[-2000:]


@pytest.fixture
def live_cleared() -> Iterator[None]:
    """The cached live carrier, forgotten before and after the test (it holds fake clients)."""
    from agentmessage.composition import dispatching

    dispatching.live_carrier.cache_clear()
    yield
    dispatching.live_carrier.cache_clear()


def test_the_live_carrier_stages_in_the_configured_bucket_and_makes_s3_only_for_an_mms(
    monkeypatch: pytest.MonkeyPatch, live_cleared: None
) -> None:
    from agentmessage.carriers import media
    from agentmessage.composition import dispatching
    from agentmessage.composition.settings import DispatchSettings, load
    from agentmessage.integration import aws_clients

    # Given the dispatcher's environment, its AWS clients stubbed, and the media host faked
    for name, value in DISPATCH_ENV.items():
        monkeypatch.setenv(name, value)
    load.cache_clear()
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    made: list[str] = []

    def make_s3() -> Any:
        made.append("s3")
        return s3

    sms_voice = boto3.client("pinpoint-sms-voice-v2", region_name="us-east-1")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aws_clients, "sms_voice", lambda: sms_voice)
        patch.setattr(aws_clients, "s3", make_s3)
        patch.setattr(media, "HttpsMediaFetcher", lambda: png)
        with Stubber(sms_voice) as send_stub, Stubber(s3) as s3_stub:
            send_stub.add_response("send_text_message", {"MessageId": "aws-1"})
            s3_stub.add_response(
                "put_object",
                {"ETag": '"etag"'},
                expected_params={
                    "Bucket": BUCKET,
                    "Key": "org_1/msg_1/0.png",
                    "Body": PNG,
                    "ContentType": "image/png",
                },
            )
            send_stub.add_response(
                "send_media_message",
                {"MessageId": "aws-2"},
                expected_params={
                    "DestinationPhoneNumber": TO,
                    "OriginationIdentity": FROM,
                    "MessageBody": TEXT,
                    "MediaUrls": [f"s3://{BUCKET}/org_1/msg_1/0.png"],
                    "Context": {"message_id": "msg_1", "org_id": "org_1"},
                },
            )

            # When the live carrier sends an SMS, then an MMS
            carrier = dispatching.live_carrier(load(DispatchSettings))
            carrier.send(OutboundMessage("msg_1", "org_1", FROM, TO, TEXT, "sms"))
            made_for_sms = list(made)
            carrier.send(an_mms())

            # Then the SMS made no S3 client; the MMS did, and staged in the configured bucket
            send_stub.assert_no_pending_responses()
            s3_stub.assert_no_pending_responses()
    load.cache_clear()
    assert made_for_sms == []
    assert made == ["s3"]
