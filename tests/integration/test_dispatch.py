"""The dispatch handler on SQS events, against moto: the send handler accepts, the queue carries
``{org_id, id}``, the dispatcher claims and hands the message to the sandbox carrier."""

import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from agentmessage.api.v1.representation import to_v1
from agentmessage.carriers.base import OutboundMessage, SendResult, TimeLeft, no_time_limit
from agentmessage.carriers.sandbox import SANDBOX_NUMBERS
from agentmessage.composition.dispatching import live_carrier
from agentmessage.domain.message import Message
from agentmessage.domain.status import Status
from agentmessage.integration.messages_table import DynamoMessageRepository
from agentmessage.integration.time_budget import RECORD_RESERVE
from functions.dispatch import app as dispatch_app
from tests.integration.conftest import Aws, Invoke
from tests.support.containers import dispatcher_sandbox
from tests.support.events import (
    FakeLambdaContext,
    authorizer_context,
    dispatch_body,
    message_event,
    send_event,
    sqs_event,
)
from tests.support.fakes import START, FakeClock
from tests.support.queues import drain as drain_queue

ORG = "org_a"
UNREACHABLE = "+15555550101"
THROTTLED_ONCE = "+15555550102"
NO_RECEIPT = "+15555550103"
OPTED_OUT = "+15555550104"
UNDELIVERED_UNREACHABLE = "+15555550105"
UNDELIVERED_BLOCKED = "+15555550106"
UNCONFIRMED = "+15555550107"
ANYONE = "+15555550199"


@pytest.fixture
def send(invoke: Callable[[str], Invoke]) -> Callable[..., dict[str, Any]]:
    """POST /v1/messages as org_a (test key): the accepted message."""

    def post(to: str = ANYONE, **fields: Any) -> dict[str, Any]:
        body = {"from": "+15555550100", "to": to, "text": "Your code is 123456"} | fields
        response = invoke("SendMessageFunction")(send_event(body, authorizer=authorizer_context(org_id=ORG)))
        assert response["statusCode"] == 202, response["body"]
        data: dict[str, Any] = json.loads(response["body"])["data"]
        return data

    return post


@pytest.fixture
def dispatch(invoke: Callable[[str], Invoke]) -> Callable[[dict[str, Any]], list[str]]:
    """Run the dispatcher on an SQS event; the ids of the records it reported as failed."""

    def run(event: dict[str, Any]) -> list[str]:
        response = invoke("DispatchFunction")(event)
        return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]

    return run


def drain(aws: Aws) -> list[str]:
    """Every body on the dispatch queue (received and deleted), as the event source mapping would."""
    return drain_queue(aws.client("sqs"), aws.stack.refs["DispatchQueue"])


def stored(aws: Aws, message_id: str) -> Message:
    repository = DynamoMessageRepository(aws.client("dynamodb"), aws.stack.refs["MessagesTable"])
    message = repository.get(ORG, message_id)
    assert message is not None
    return message


def accepted_count(message_id: str) -> int:
    return dispatcher_sandbox().times_accepted(message_id)


# -- delivered --------------------------------------------------------------------------------------


def test_an_immediate_message_is_sent_through_the_sandbox_and_its_receipt_delivers_it(
    aws: Aws,
    invoke: Callable[[str], Invoke],
    send: Callable[..., dict[str, Any]],
    dispatch: Callable[[dict[str, Any]], list[str]],
    receipts: Callable[[], list[dict[str, Any]]],
    fake_clock: FakeClock,
) -> None:
    # Given a message accepted now: queued, unbilled, its dispatch on the queue
    accepted = send()
    assert accepted["status"] == "queued"
    assert accepted["cost"] == {"amount": "0.0000", "currency": "USD"}
    bodies = drain(aws)
    assert [json.loads(body) for body in bodies] == [{"org_id": ORG, "id": accepted["id"]}]

    # When the queue delivers it to the dispatcher a moment later
    fake_clock.advance(1.5)
    failures = dispatch(sqs_event(bodies))

    # Then it went to the sandbox once and is sent, billed one part
    assert failures == []
    assert accepted_count(accepted["id"]) == 1
    assert stored(aws, accepted["id"]).status is Status.SENT

    # And when the sandbox's receipts (on the receipts queue) reach the receipt function a moment
    # later, it is delivered: the receipts are End User Messaging's records, with the send's context
    fake_clock.advance(2)
    records = receipts()
    assert [(record["eventType"], record["isFinal"]) for record in records] == [
        ("TEXT_PENDING", False),
        ("TEXT_DELIVERED", True),
    ]
    assert {json.dumps(record["context"], sort_keys=True) for record in records} == {
        json.dumps({"message_id": accepted["id"], "org_id": ORG}, sort_keys=True)
    }
    response = invoke("GetMessageFunction")(
        message_event("GET", accepted["id"], authorizer=authorizer_context(org_id=ORG))
    )
    data = json.loads(response["body"])["data"]
    assert data["status"] == "delivered"
    assert data["sent_at"] == "2026-11-22T06:00:01.500Z"
    assert data["completed_at"] == "2026-11-22T06:00:01.500Z"  # the receipt's own time
    assert data["cost"] == {"amount": "0.0079", "currency": "USD"}
    assert (data["encoding"], data["parts"]) == ("GSM-7", 1)
    assert data["errors"] == []
    # The provider's id and the carrier are kept for the pipeline, never shown
    assert not {"provider_message_id", "carrier", "attempts", "org_id", "mode"} & set(data)
    message = stored(aws, accepted["id"])
    assert message.provider_message_id == f"sandbox-{accepted['id']}"
    assert message.carrier == "sandbox"
    assert message.attempts == 1


@pytest.mark.parametrize(
    ("text", "encoding", "parts", "amount"),
    [
        ("a" * 160, "GSM-7", 1, "0.0079"),
        ("a" * 161, "GSM-7", 2, "0.0158"),
        ("é" * 5 + "€" * 100, "GSM-7", 2, "0.0158"),  # € is an extension character: two septets
        ("ж" * 70, "UCS-2", 1, "0.0079"),
        ("ж" * 71, "UCS-2", 2, "0.0158"),
        ("a" * 159 + "€", "GSM-7", 2, "0.0158"),  # 161 septets
        # 306 septets would fill two parts exactly, but the € may not straddle them: three
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 3, "0.0237"),
        ("a" * 66 + "😀" + "a" * 66, "UCS-2", 3, "0.0237"),  # 134 units; the pair is not split
        ("a" * 1530, "GSM-7", 10, "0.0790"),  # the live carrier's most: ten parts
        ("😀" * 315, "UCS-2", 10, "0.0790"),  # 630 UTF-16 units, 33 pairs a part (never split)
    ],
)
def test_the_cost_is_parts_times_the_sms_price(
    aws: Aws,
    send: Callable[..., dict[str, Any]],
    dispatch: Callable[[dict[str, Any]], list[str]],
    text: str,
    encoding: str,
    parts: int,
    amount: str,
) -> None:
    accepted = send(text=text)
    assert (accepted["encoding"], accepted["parts"]) == (encoding, parts)

    dispatch(sqs_event(drain(aws)))

    message = stored(aws, accepted["id"])
    assert message.status is Status.SENT  # billed when handed over
    assert to_v1(message)["cost"] == {"amount": amount, "currency": "USD"}


def test_mms_is_billed_at_the_mms_price(
    aws: Aws, send: Callable[..., dict[str, Any]], dispatch: Callable[[dict[str, Any]], list[str]]
) -> None:
    accepted = send(channel="mms", media_urls=["https://example.com/cat.png"], text="a" * 200)

    dispatch(sqs_event(drain(aws)))

    message = stored(aws, accepted["id"])
    assert message.status is Status.SENT
    assert message.parts == 2
    assert to_v1(message)["cost"] == {"amount": "0.0400", "currency": "USD"}
    assert dispatcher_sandbox().accepted[-1].media_urls == ("https://example.com/cat.png",)


# -- the sandbox table ------------------------------------------------------------------------------


def test_the_sandbox_table_is_the_one_tested_here() -> None:
    assert set(SANDBOX_NUMBERS) == {
        UNREACHABLE, THROTTLED_ONCE, NO_RECEIPT, OPTED_OUT,
        UNDELIVERED_UNREACHABLE, UNDELIVERED_BLOCKED, UNCONFIRMED,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("to", "code"), [(UNREACHABLE, "DESTINATION_UNREACHABLE"), (OPTED_OUT, "DESTINATION_OPTED_OUT")]
)
def test_a_permanent_failure_fails_the_message_with_its_error(
    aws: Aws,
    send: Callable[..., dict[str, Any]],
    dispatch: Callable[[dict[str, Any]], list[str]],
    fake_clock: FakeClock,
    to: str,
    code: str,
) -> None:
    accepted = send(to=to)
    fake_clock.advance(1)

    failures = dispatch(sqs_event(drain(aws)))

    # The record is done (retrying cannot help), the message failed with the carrier's reason
    assert failures == []
    assert accepted_count(accepted["id"]) == 0
    data = to_v1(stored(aws, accepted["id"]))
    assert data["status"] == "failed"
    assert data["errors"] == [{"code": code, "detail": SANDBOX_NUMBERS[to].error_for(1).detail}]  # type: ignore[union-attr]
    assert data["completed_at"] == "2026-11-22T06:00:01.000Z"
    assert data["sent_at"] is None
    assert data["cost"]["amount"] == "0.0000"


def test_a_retryable_failure_goes_back_to_the_queue_then_is_delivered(
    aws: Aws,
    send: Callable[..., dict[str, Any]],
    dispatch: Callable[[dict[str, Any]], list[str]],
    fake_clock: FakeClock,
) -> None:
    accepted = send(to=THROTTLED_ONCE)
    event = sqs_event(drain(aws))

    # When the first delivery is throttled
    failures = dispatch(event)

    # Then the record is reported failed (SQS delivers it again) and the message is queued again
    assert failures == [event["Records"][0]["messageId"]]
    message = stored(aws, accepted["id"])
    assert message.status is Status.QUEUED
    assert message.attempts == 1
    assert message.errors == ()
    assert accepted_count(accepted["id"]) == 0

    # And the redelivery sends it (attempt 2)
    fake_clock.advance(180)
    assert dispatch(event) == []
    message = stored(aws, accepted["id"])
    assert message.status is Status.SENT
    assert message.attempts == 2
    assert to_v1(message)["cost"]["amount"] == "0.0079"
    assert accepted_count(accepted["id"]) == 1


def test_a_send_without_receipt_stays_sent(
    aws: Aws, send: Callable[..., dict[str, Any]], dispatch: Callable[[dict[str, Any]], list[str]]
) -> None:
    accepted = send(to=NO_RECEIPT)

    assert dispatch(sqs_event(drain(aws))) == []

    data = to_v1(stored(aws, accepted["id"]))
    assert data["status"] == "sent"
    assert data["sent_at"] is not None
    assert data["completed_at"] is None
    assert data["cost"]["amount"] == "0.0079"
    assert accepted_count(accepted["id"]) == 1


def test_a_message_always_refused_fails_after_max_attempts(
    aws: Aws,
    monkeypatch: pytest.MonkeyPatch,
    send: Callable[..., dict[str, Any]],
    dispatch: Callable[[dict[str, Any]], list[str]],
) -> None:
    # Given a dispatcher allowed one attempt per message
    monkeypatch.setenv("MAX_SEND_ATTEMPTS", "1")
    accepted = send(to=THROTTLED_ONCE)

    # When the only attempt is throttled
    failures = dispatch(sqs_event(drain(aws)))

    # Then the message fails with the carrier's error, and the record is not retried
    assert failures == []
    message = stored(aws, accepted["id"])
    assert message.status is Status.FAILED
    assert [error.code for error in message.errors] == ["CARRIER_THROTTLED"]
    assert accepted_count(accepted["id"]) == 0


# -- skipped ------------------------------------------------------------------------------------------


def test_a_canceled_message_is_skipped(
    aws: Aws,
    invoke: Callable[[str], Invoke],
    send: Callable[..., dict[str, Any]],
    dispatch: Callable[[dict[str, Any]], list[str]],
) -> None:
    accepted = send()
    canceled = invoke("CancelMessageFunction")(
        message_event("DELETE", accepted["id"], authorizer=authorizer_context(org_id=ORG))
    )
    assert canceled["statusCode"] == 200

    assert dispatch(sqs_event(drain(aws))) == []

    assert accepted_count(accepted["id"]) == 0
    message = stored(aws, accepted["id"])
    assert message.status is Status.CANCELED
    assert to_v1(message)["cost"]["amount"] == "0.0000"


def test_an_expired_message_is_skipped(
    aws: Aws,
    send: Callable[..., dict[str, Any]],
    dispatch: Callable[[dict[str, Any]], list[str]],
    fake_clock: FakeClock,
) -> None:
    accepted = send(valid_until="2026-11-22T06:01:00Z")
    repository = DynamoMessageRepository(aws.client("dynamodb"), aws.stack.refs["MessagesTable"])
    fake_clock.advance(61)
    assert repository.expire(ORG, accepted["id"], fake_clock.now).won

    assert dispatch(sqs_event(drain(aws))) == []

    assert accepted_count(accepted["id"]) == 0
    message = stored(aws, accepted["id"])
    assert message.status is Status.EXPIRED
    assert message.completed_at == START + timedelta(seconds=61)


def test_a_message_past_valid_until_is_expired_by_the_dispatcher(
    aws: Aws,
    send: Callable[..., dict[str, Any]],
    dispatch: Callable[[dict[str, Any]], list[str]],
    fake_clock: FakeClock,
) -> None:
    # Given a message valid for 30 s whose dispatch arrives after that
    accepted = send(valid_until="2026-11-22T06:00:30Z")
    fake_clock.advance(30)

    assert dispatch(sqs_event(drain(aws))) == []

    assert accepted_count(accepted["id"]) == 0
    data = to_v1(stored(aws, accepted["id"]))
    assert data["status"] == "expired"
    assert data["completed_at"] == "2026-11-22T06:00:30.000Z"
    assert data["sent_at"] is None
    assert data["cost"]["amount"] == "0.0000"


def test_an_already_claimed_message_is_skipped(
    aws: Aws, send: Callable[..., dict[str, Any]], dispatch: Callable[[dict[str, Any]], list[str]]
) -> None:
    # Given a message claimed by another dispatcher that is still sending it
    accepted = send()
    repository = DynamoMessageRepository(aws.client("dynamodb"), aws.stack.refs["MessagesTable"])
    assert repository.claim(ORG, accepted["id"], START, lease_until=START + timedelta(seconds=300)).won

    assert dispatch(sqs_event(drain(aws))) == []

    assert accepted_count(accepted["id"]) == 0
    assert stored(aws, accepted["id"]).status is Status.SENDING


def test_a_duplicate_delivery_is_skipped(
    aws: Aws, send: Callable[..., dict[str, Any]], dispatch: Callable[[dict[str, Any]], list[str]]
) -> None:
    accepted = send()
    bodies = drain(aws)

    # The same body twice in one batch, then once more later
    assert dispatch(sqs_event(bodies * 2)) == []
    assert dispatch(sqs_event(bodies)) == []

    assert accepted_count(accepted["id"]) == 1
    assert stored(aws, accepted["id"]).attempts == 1


def test_a_scheduled_message_is_sent_only_from_its_time(
    aws: Aws,
    send: Callable[..., dict[str, Any]],
    dispatch: Callable[[dict[str, Any]], list[str]],
    fake_clock: FakeClock,
) -> None:
    # Given a message scheduled for 06:05 whose dispatch arrives early
    accepted = send(scheduled_at="2026-11-22T06:05:00Z")
    assert drain(aws) == []  # scheduled sends go through the scheduler, not the queue
    body = dispatch_body(ORG, accepted["id"])
    fake_clock.set(START + timedelta(minutes=4, seconds=59))

    assert dispatch(sqs_event([body])) == []
    assert stored(aws, accepted["id"]).status is Status.QUEUED
    assert accepted_count(accepted["id"]) == 0

    # When it arrives at its time, it is sent
    fake_clock.set(START + timedelta(minutes=5))
    assert dispatch(sqs_event([body])) == []
    assert stored(aws, accepted["id"]).status is Status.SENT
    assert accepted_count(accepted["id"]) == 1


def test_a_dispatch_for_an_unknown_message_is_dropped(
    dispatch: Callable[[dict[str, Any]], list[str]],
) -> None:
    assert dispatch(sqs_event([dispatch_body(ORG, "0193a6c0-0000-7000-8000-00000000dead")])) == []


# -- batches -----------------------------------------------------------------------------------------


def test_a_malformed_record_is_dropped_without_failing_the_batch(
    aws: Aws, send: Callable[..., dict[str, Any]], dispatch: Callable[[dict[str, Any]], list[str]]
) -> None:
    accepted = send()
    bodies = ["not json", "[]", '{"org_id": 1}', '{"id": "x"}', *drain(aws)]

    assert dispatch(sqs_event(bodies)) == []

    assert stored(aws, accepted["id"]).status is Status.SENT


def test_a_batch_of_ten_reports_exactly_the_retryable_record(
    aws: Aws,
    send: Callable[..., dict[str, Any]],
    dispatch: Callable[[dict[str, Any]], list[str]],
    receipts: Callable[[], list[dict[str, Any]]],
) -> None:
    # Given ten messages, one of them to a number throttled on its first attempt
    numbers = [ANYONE] * 4 + [THROTTLED_ONCE] + [ANYONE, NO_RECEIPT, UNREACHABLE, OPTED_OUT, ANYONE]
    ids = [send(to=number)["id"] for number in numbers]
    bodies = drain(aws)
    assert sorted(json.loads(body)["id"] for body in bodies) == sorted(ids)
    event = sqs_event(bodies)
    record_for = {json.loads(record["body"])["id"]: record["messageId"] for record in event["Records"]}

    failures = dispatch(event)

    # Then exactly that record goes back to the queue; every other one is done (and, once their
    # receipts are in, the sent ones are delivered, but for the number that never gets one)
    throttled = ids[numbers.index(THROTTLED_ONCE)]
    assert failures == [record_for[throttled]]
    receipts()
    statuses = {message_id: stored(aws, message_id).status for message_id in ids}
    assert statuses == {
        message_id: {
            ANYONE: Status.DELIVERED,
            THROTTLED_ONCE: Status.QUEUED,
            NO_RECEIPT: Status.SENT,
            UNREACHABLE: Status.FAILED,
            OPTED_OUT: Status.FAILED,
        }[number]
        for message_id, number in zip(ids, numbers, strict=True)
    }


def test_records_are_not_started_once_the_invocation_is_about_to_time_out(
    aws: Aws, send: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three messages, and an invocation whose remaining time runs out after the first send
    ids = [send()["id"] for _ in range(3)]
    event = sqs_event(drain(aws))
    context = FakeLambdaContext()
    context.remaining_ms = int(RECORD_RESERVE * 1000) + 1
    sandbox = dispatcher_sandbox()
    accept = sandbox.send

    def slow_send(message: OutboundMessage, *, time_left: TimeLeft = no_time_limit) -> SendResult:
        context.remaining_ms = int(RECORD_RESERVE * 1000) - 1
        return accept(message, time_left=time_left)

    monkeypatch.setattr(sandbox, "send", slow_send)

    # When the dispatcher runs
    response = dispatch_app.lambda_handler(event, context)

    # Then the first is sent, and the two it could not finish in time go back unclaimed
    failures = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
    assert failures == [record["messageId"] for record in event["Records"][1:]]
    assert [stored(aws, message_id).status for message_id in ids] == [
        Status.SENT,
        Status.QUEUED,
        Status.QUEUED,
    ]
    assert all(stored(aws, message_id).attempts == 0 for message_id in ids[1:])


def test_a_live_send_with_too_little_time_left_is_released_and_never_sent(
    aws: Aws,
    invoke: Callable[[str], Invoke],
    monkeypatch: pytest.MonkeyPatch,
    fake_clock: FakeClock,
) -> None:
    from botocore.stub import Stubber

    from agentmessage.integration import aws_clients
    from agentmessage.integration.time_budget import SEND_RESERVE

    # Given a live message on the queue, and AWS End User Messaging stubbed, its calls recorded
    body = {"from": "+15555550100", "to": ANYONE, "text": "Your code is 123456"}
    accepted = invoke("SendMessageFunction")(
        send_event(body, authorizer=authorizer_context(org_id=ORG, mode="live"))
    )
    assert accepted["statusCode"] == 202, accepted["body"]
    message_id = json.loads(accepted["body"])["data"]["id"]
    event = sqs_event(drain(aws))
    sms_voice = aws_clients.sms_voice()
    calls: list[str] = []
    sms_voice.meta.events.register(
        "provide-client-params.pinpoint-sms-voice-v2",
        lambda event_name, **_: calls.append(event_name.rsplit(".", 1)[-1]),
    )
    # And an invocation started with time enough, whose claim then leaves just under the reserve
    context = FakeLambdaContext()
    claim = DynamoMessageRepository.claim

    def slow_claim(self: DynamoMessageRepository, *args: Any, **kwargs: Any) -> Any:
        context.remaining_ms = int(SEND_RESERVE * 1000) - 1
        return claim(self, *args, **kwargs)

    monkeypatch.setattr(DynamoMessageRepository, "claim", slow_claim)
    live_carrier.cache_clear()
    try:
        with Stubber(sms_voice) as stub:
            # When the dispatcher runs (the Stubber holds no answer: nothing may be sent)
            response = dispatch_app.lambda_handler(event, context)

            # Then AWS was never called: the record goes back to the queue, the message is queued
            assert calls == []
            failures = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
            assert failures == [event["Records"][0]["messageId"]]
            message = stored(aws, message_id)
            assert (message.status, message.attempts, message.errors) == (Status.QUEUED, 1, ())
            assert message.provider_message_id is None

            # And its redelivery, in an invocation with time enough, sends it once
            stub.add_response("send_text_message", {"MessageId": "aws-1"})
            fake_clock.advance(180)
            response = dispatch_app.lambda_handler(event, FakeLambdaContext())
            assert response["batchItemFailures"] == []
            assert calls == ["SendTextMessage"]
            stub.assert_no_pending_responses()
    finally:
        live_carrier.cache_clear()
    message = stored(aws, message_id)
    assert (message.status, message.provider_message_id, message.attempts) == (Status.SENT, "aws-1", 2)


# -- receipts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "channel", "status", "errors"),
    [
        (ANYONE, "sms", "delivered", []),
        (ANYONE, "mms", "delivered", []),
        (UNDELIVERED_UNREACHABLE, "sms", "undelivered", ["DESTINATION_UNREACHABLE"]),
        (UNDELIVERED_UNREACHABLE, "mms", "undelivered", ["DESTINATION_UNREACHABLE"]),
        (UNDELIVERED_BLOCKED, "sms", "undelivered", ["BLOCKED"]),
        (UNCONFIRMED, "sms", "sent", ["DELIVERY_UNCONFIRMED"]),
        (NO_RECEIPT, "sms", "sent", []),
    ],
)
def test_each_sandbox_number_ends_as_its_receipts_say(
    aws: Aws,
    send: Callable[..., dict[str, Any]],
    dispatch: Callable[[dict[str, Any]], list[str]],
    receipts: Callable[[], list[dict[str, Any]]],
    fake_clock: FakeClock,
    to: str,
    channel: str,
    status: str,
    errors: list[str],
) -> None:
    fields = {"channel": "mms", "media_urls": ["https://example.com/cat.png"]} if channel == "mms" else {}
    accepted = send(to=to, **fields)
    assert dispatch(sqs_event(drain(aws))) == []
    fake_clock.advance(3)

    records = receipts()

    data = to_v1(stored(aws, accepted["id"]))
    assert (data["status"], [error["code"] for error in data["errors"]]) == (status, errors)
    final = [record for record in records if record["isFinal"]]
    if final:
        assert data["completed_at"] == data["sent_at"]  # the sandbox reports at once; the receipt's time
        assert all(
            record["eventType"].startswith("MEDIA_" if channel == "mms" else "TEXT_") for record in records
        )
    else:
        assert data["completed_at"] is None
    assert receipts() == []  # none left behind


def test_a_receipt_that_arrives_before_its_send_is_recorded_is_applied_later(
    aws: Aws,
    send: Callable[..., dict[str, Any]],
    receipts: Callable[[], list[dict[str, Any]]],
    invoke: Callable[[str], Invoke],
) -> None:
    # Given a message still being sent (claimed, its record not yet written), and its receipt already in
    from agentmessage.carriers.receipt_events import event_record
    from agentmessage.domain import clock

    accepted = send()
    drain(aws)
    repository = DynamoMessageRepository(aws.client("dynamodb"), aws.stack.refs["MessagesTable"])
    now = clock.utc_now()
    assert repository.claim(ORG, accepted["id"], now, lease_until=now + timedelta(minutes=5)).won
    record = event_record(
        event_type="TEXT_DELIVERED", final=True, at=now, provider_message_id=f"sandbox-{accepted['id']}",
        org_id=ORG, message_id=accepted["id"], origination="+15555550100", destination=ANYONE,
        encoding="GSM-7", parts=1, status_description="delivered",
    )  # fmt: skip
    aws.client("sqs").send_message(QueueUrl=aws.stack.refs["ReceiptsQueue"], MessageBody=json.dumps(record))

    # When the receipt function runs, it reports the record failed: it stays on the queue
    receipts()
    assert stored(aws, accepted["id"]).status is Status.SENDING

    # And once the send is recorded, the same receipt delivers it
    repository.record_sent(
        ORG, accepted["id"], now=now, provider_message_id=f"sandbox-{accepted['id']}", carrier="sandbox",
        cost=Decimal("0.0079"),
    )  # fmt: skip
    receipts()
    assert stored(aws, accepted["id"]).status is Status.DELIVERED


NUMBERS = {"destinationPhoneNumber": "+15555550177", "originationPhoneNumber": "+15555550188"}


@pytest.mark.parametrize(
    "record",
    [
        "not json +15555550177",
        {"eventType": "TEXT_DELIVERED", "isFinal": True, "eventTimestamp": 1, "messageId": "m", **NUMBERS},
        {"eventType": "TEXT_DELIVERED", "isFinal": "yes", "eventTimestamp": 1, "messageId": "m", **NUMBERS},
        {
            "eventType": "TEXT_DELIVERED", "isFinal": True, "eventTimestamp": 1, "messageId": "m", **NUMBERS,
            "context": {"org_id": "org_elsewhere", "message_id": "0193a6c0-0000-7000-8000-00000000dead"},
        },
    ],
    ids=["not-json", "no-context", "not-a-record", "foreign-context"],
)  # fmt: skip
def test_an_event_record_without_our_context_is_dropped_and_logged_without_its_numbers(
    aws: Aws,
    invoke: Callable[[str], Invoke],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    record: Any,
) -> None:
    from tests.support.logs import captured_logs

    body = record if isinstance(record, str) else json.dumps(record)
    event = sqs_event([body], queue_arn=aws.stack.attributes[("ReceiptsQueue", "Arn")])
    with captured_logs(capsys, caplog) as logs:
        response = invoke("ReceiptFunction")(event)
        output = logs.text()
    # The record is done (retrying cannot help), counted, and logged without its numbers
    assert response["batchItemFailures"] == []
    assert "ReceiptsDropped" in output
    assert "+155555501" not in output
