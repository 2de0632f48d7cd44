"""The sandbox carrier: one outcome per table row, attempts, the record of accepted sends, and the
receipts it publishes once a send is recorded, shaped as End User Messaging's event records."""

import threading
from typing import Any

import pytest

from agentmessage.carriers.base import (
    Carrier,
    CarrierError,
    OutboundMessage,
    PermanentCarrierError,
    RetryableCarrierError,
    SendResult,
)
from agentmessage.carriers.sandbox import DEFAULT_OUTCOME, SANDBOX_NUMBERS, SandboxCarrier, outcome_for
from agentmessage.domain.errors import Unavailable

UNREACHABLE = "+15555550101"
THROTTLED_ONCE = "+15555550102"
NO_RECEIPT = "+15555550103"
OPTED_OUT = "+15555550104"
UNDELIVERED_UNREACHABLE = "+15555550105"
UNDELIVERED_BLOCKED = "+15555550106"
UNCONFIRMED = "+15555550107"
ANY_OTHER = "+15555550199"


class Topic:
    """The receipts topic, in memory: every record published, in order."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def publish(self, records: list[dict[str, Any]]) -> None:
        self.records.extend(records)


def outbound(to: str = ANY_OTHER, *, message_id: str = "msg_1", attempt: int = 1) -> OutboundMessage:
    return OutboundMessage(
        message_id=message_id,
        org_id="org_1",
        from_="+15555550100",
        to=to,
        text="Your code is 123456",
        channel="sms",
        attempt=attempt,
    )


@pytest.fixture
def carrier() -> SandboxCarrier:
    return SandboxCarrier()


def test_it_is_a_carrier_named_sandbox(carrier: SandboxCarrier) -> None:
    as_carrier: Carrier = carrier
    assert as_carrier.name == "sandbox"


def test_the_table_uses_only_fictional_numbers_and_describes_each_one() -> None:
    assert set(SANDBOX_NUMBERS) == {
        UNREACHABLE, THROTTLED_ONCE, NO_RECEIPT, OPTED_OUT, UNDELIVERED_UNREACHABLE, UNDELIVERED_BLOCKED,
        UNCONFIRMED,
    }  # fmt: skip
    for number, outcome in SANDBOX_NUMBERS.items():
        assert number.startswith("+1555555")
        assert 100 <= int(number[-4:]) <= 199
        assert outcome.description


def test_the_table_cannot_be_changed_at_runtime() -> None:
    with pytest.raises(TypeError):
        SANDBOX_NUMBERS[ANY_OTHER] = DEFAULT_OUTCOME  # type: ignore[index]


def test_any_other_number_is_delivered(carrier: SandboxCarrier) -> None:
    # Given a number that is not in the table
    message = outbound(ANY_OTHER, message_id="msg_abc")

    # When it is sent
    result = carrier.send(message)

    # Then it is sent, under a sandbox provider id (its delivery comes later, as a receipt)
    assert result == SendResult(provider_message_id="sandbox-msg_abc")
    assert outcome_for(ANY_OTHER) is DEFAULT_OUTCOME
    assert carrier.accepted == [message]


def test_unreachable_number_fails_permanently(carrier: SandboxCarrier) -> None:
    with pytest.raises(PermanentCarrierError) as raised:
        carrier.send(outbound(UNREACHABLE))

    assert raised.value.code == "DESTINATION_UNREACHABLE"
    assert raised.value.retryable is False
    assert carrier.accepted == []


def test_unreachable_number_fails_on_every_attempt(carrier: SandboxCarrier) -> None:
    with pytest.raises(PermanentCarrierError):
        carrier.send(outbound(UNREACHABLE, attempt=2))


def test_opted_out_number_fails_permanently(carrier: SandboxCarrier) -> None:
    with pytest.raises(PermanentCarrierError) as raised:
        carrier.send(outbound(OPTED_OUT))

    assert raised.value.code == "DESTINATION_OPTED_OUT"
    assert raised.value.retryable is False
    assert carrier.accepted == []


def test_throttled_number_fails_retryably_on_the_first_attempt(carrier: SandboxCarrier) -> None:
    with pytest.raises(RetryableCarrierError) as raised:
        carrier.send(outbound(THROTTLED_ONCE, attempt=1))

    assert raised.value.code == "CARRIER_THROTTLED"
    assert raised.value.retryable is True
    assert carrier.times_accepted("msg_1") == 0


@pytest.mark.parametrize("attempt", [2, 3, 10])
def test_throttled_number_is_delivered_on_a_later_attempt(carrier: SandboxCarrier, attempt: int) -> None:
    result = carrier.send(outbound(THROTTLED_ONCE, attempt=attempt))

    assert result == SendResult(provider_message_id="sandbox-msg_1")
    assert carrier.times_accepted("msg_1") == 1


def test_throttled_number_depends_only_on_the_attempt(carrier: SandboxCarrier) -> None:
    # Given a first attempt that already succeeded elsewhere, a fresh first attempt still fails
    carrier.send(outbound(THROTTLED_ONCE, attempt=2))

    with pytest.raises(RetryableCarrierError):
        carrier.send(outbound(THROTTLED_ONCE, attempt=1))


def test_no_receipt_number_is_sent_and_no_receipt_is_ever_published() -> None:
    topic = Topic()
    carrier = SandboxCarrier(topic)
    message = outbound(NO_RECEIPT)
    result = carrier.send(message)
    carrier.recorded(message, result)

    assert result == SendResult(provider_message_id="sandbox-msg_1")
    assert carrier.times_accepted("msg_1") == 1
    assert topic.records == []


# -- receipts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (ANY_OTHER, [("TEXT_PENDING", False), ("TEXT_DELIVERED", True)]),
        (THROTTLED_ONCE, [("TEXT_PENDING", False), ("TEXT_DELIVERED", True)]),
        (UNDELIVERED_UNREACHABLE, [("TEXT_PENDING", False), ("TEXT_UNREACHABLE", True)]),
        (UNDELIVERED_BLOCKED, [("TEXT_BLOCKED", True)]),
        (UNCONFIRMED, [("TEXT_PENDING", False), ("TEXT_UNKNOWN", True)]),
    ],
)
def test_once_recorded_a_send_gets_its_numbers_receipts(
    number: str, expected: list[tuple[str, bool]]
) -> None:
    # Given a send the sandbox took
    topic = Topic()
    carrier = SandboxCarrier(topic)
    message = outbound(number, attempt=2)
    result = carrier.send(message)
    assert topic.records == []  # nothing before the send is recorded

    # When the dispatcher has recorded it
    carrier.recorded(message, result)

    # Then the number's receipts are published, in order, as End User Messaging's records
    assert [(record["eventType"], record["isFinal"]) for record in topic.records] == expected
    for record in topic.records:
        assert record["messageId"] == result.provider_message_id
        assert record["context"] == {"org_id": "org_1", "message_id": "msg_1"}
        assert record["destinationPhoneNumber"] == number
        assert record["messageStatus"] == record["eventType"].removeprefix("TEXT_")
        assert isinstance(record["eventTimestamp"], int)


def test_an_mms_gets_media_receipts() -> None:
    topic = Topic()
    carrier = SandboxCarrier(topic)
    message = OutboundMessage(
        message_id="msg_2", org_id="org_1", from_="+15555550100", to=ANY_OTHER, text="Look",
        channel="mms", media_urls=("https://cdn.example.com/cat.png",),
    )  # fmt: skip
    carrier.recorded(message, carrier.send(message))
    assert [record["eventType"] for record in topic.records] == ["MEDIA_PENDING", "MEDIA_DELIVERED"]


def test_a_topic_that_fails_leaves_the_message_as_one_whose_receipts_never_come() -> None:
    class Down:
        def publish(self, records: list[dict[str, Any]]) -> None:
            raise Unavailable()

    carrier = SandboxCarrier(Down())
    message = outbound()
    carrier.recorded(message, carrier.send(message))  # no error escapes: the send stands
    assert carrier.times_accepted("msg_1") == 1


@pytest.mark.parametrize("number", [UNREACHABLE, THROTTLED_ONCE, OPTED_OUT])
def test_an_error_names_neither_the_text_nor_the_number(carrier: SandboxCarrier, number: str) -> None:
    with pytest.raises(CarrierError) as raised:
        carrier.send(outbound(number))

    assert number not in raised.value.detail
    assert "123456" not in raised.value.detail
    assert raised.value.detail


def test_times_accepted_counts_each_hand_over(carrier: SandboxCarrier) -> None:
    carrier.send(outbound(message_id="msg_1"))
    carrier.send(outbound(message_id="msg_2"))
    carrier.send(outbound(message_id="msg_1", attempt=2))

    assert carrier.times_accepted("msg_1") == 2
    assert carrier.times_accepted("msg_2") == 1
    assert carrier.times_accepted("msg_never_sent") == 0


def test_a_failing_send_is_not_counted(carrier: SandboxCarrier) -> None:
    with pytest.raises(RetryableCarrierError):
        carrier.send(outbound(THROTTLED_ONCE, message_id="msg_1", attempt=1))
    carrier.send(outbound(THROTTLED_ONCE, message_id="msg_1", attempt=2))
    with pytest.raises(PermanentCarrierError):
        carrier.send(outbound(OPTED_OUT, message_id="msg_2"))

    assert carrier.times_accepted("msg_1") == 1
    assert carrier.times_accepted("msg_2") == 0
    assert [message.attempt for message in carrier.accepted] == [2]


def test_concurrent_sends_are_all_recorded(carrier: SandboxCarrier) -> None:
    # Given many threads sending at once
    threads_count, sends_per_thread = 8, 250
    start = threading.Barrier(threads_count)

    def send_many(thread: int) -> None:
        start.wait()
        for i in range(sends_per_thread):
            carrier.send(outbound(message_id=f"msg_{thread}_{i % 5}"))

    threads = [threading.Thread(target=send_many, args=(t,)) for t in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then no send is lost from the record
    assert len(carrier.accepted) == threads_count * sends_per_thread
    assert carrier.times_accepted("msg_3_4") == sends_per_thread // 5
