"""dispatch_message: every branch, against the in-memory repository (DynamoDB's conditions)."""

import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from agentmessage.carriers.base import (
    Carrier,
    OutboundMessage,
    PermanentCarrierError,
    RetryableCarrierError,
    SendResult,
)
from agentmessage.carriers.sandbox import SandboxCarrier
from agentmessage.domain.dispatch import RETRY_DELAY, DispatchPolicy, Outcome, Pricing, dispatch_message
from agentmessage.domain.message import Channel, Message, MessageError, Mode
from agentmessage.domain.status import Status
from agentmessage.domain.sweep import LEASE_EXPIRED
from agentmessage.observability import metrics
from tests.support.fakes import START, FakeClock, InMemoryMessageRepository, ScriptedCarrier
from tests.support.messages import RECIPIENT, a_message

POLICY = DispatchPolicy(
    lease=timedelta(seconds=300),
    max_attempts=3,
    pricing=Pricing(sms_per_part=Decimal("0.0079"), mms_per_part=Decimal("0.0200")),
)
ORG = "org_a"
ID = "0193a6c0-0000-7000-8000-000000000001"
TAKEN = SendResult(provider_message_id="provider-1")
THROTTLED = RetryableCarrierError("CARRIER_THROTTLED", "slow down")
OPTED_OUT = PermanentCarrierError("DESTINATION_OPTED_OUT", "the recipient opted out")


@pytest.fixture(autouse=True)
def _fresh_metrics() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture
def repository() -> InMemoryMessageRepository:
    return InMemoryMessageRepository()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START + timedelta(seconds=1))


def dispatch(
    repository: InMemoryMessageRepository,
    carrier: Carrier,
    clock: FakeClock,
    *,
    message_id: str = ID,
    policy: DispatchPolicy = POLICY,
    live: Carrier | None = None,
) -> Outcome:
    def carrier_for(mode: Mode) -> Carrier:
        return live if (mode is Mode.LIVE and live is not None) else carrier

    return dispatch_message(
        ORG, message_id, repository=repository, carrier_for=carrier_for, policy=policy, now=clock
    )


def stored(repository: InMemoryMessageRepository, message_id: str = ID) -> Message:
    message = repository.peek(ORG, message_id)
    assert message is not None
    return message


def metric_values(name: str) -> list[float]:
    return list(metrics.metric_set.get(name, {}).get("Value", []))


# -- sent ---------------------------------------------------------------------------------------


def test_a_queued_message_is_claimed_handed_over_and_recorded_sent(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    # Given a queued immediate message of two parts
    repository.put(a_message(message_id=ID, parts=2))
    carrier = ScriptedCarrier(TAKEN)

    # When it is dispatched
    outcome = dispatch(repository, carrier, clock)

    # Then the carrier got it once, as attempt 1, with its encoding and parts; it is sent (what
    # became of it comes as receipts), billed per part, and the carrier was told it is recorded
    assert outcome is Outcome.SENT
    assert [(sent.message_id, sent.attempt, sent.channel, sent.to, sent.parts) for sent in carrier.sent] == [
        (ID, 1, "sms", RECIPIENT, 2)
    ]
    assert carrier.recorded_sends == carrier.sent
    message = stored(repository)
    assert message.status is Status.SENT
    assert message.sent_at == clock.now
    assert message.completed_at is None
    assert message.provider_message_id == "provider-1"
    assert message.carrier == "scripted"
    assert message.cost.amount == Decimal("0.0158")
    assert message.attempts == 1
    assert repository.due_at(ORG, ID) is None  # out of the due index


def test_the_claim_and_the_record_are_the_only_writes(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    repository.put(a_message(message_id=ID))

    dispatch(repository, ScriptedCarrier(TAKEN), clock)

    assert repository.calls == ["claim", "record_sent"]


def test_a_send_without_receipt_stays_sent_and_is_not_completed(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    repository.put(a_message(message_id=ID))

    outcome = dispatch(repository, ScriptedCarrier(TAKEN), clock)

    assert outcome is Outcome.SENT
    message = stored(repository)
    assert message.status is Status.SENT
    assert message.sent_at == clock.now
    assert message.completed_at is None
    assert message.cost.amount == Decimal("0.0079")


def test_mms_is_priced_per_part_at_the_mms_price(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    repository.put(a_message(message_id=ID, channel=Channel.MMS, parts=3))
    carrier = ScriptedCarrier(TAKEN)

    dispatch(repository, carrier, clock)

    assert stored(repository).cost.amount == Decimal("0.0600")
    assert carrier.sent[0].channel == "mms"
    assert carrier.sent[0].media_urls == ("https://example.com/cat.png",)


def test_a_live_message_goes_to_the_live_carrier(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    repository.put(a_message(message_id=ID, mode=Mode.LIVE))
    sandbox, live = ScriptedCarrier(TAKEN), ScriptedCarrier(TAKEN)

    dispatch(repository, sandbox, clock, live=live)

    assert sandbox.sent == []
    assert len(live.sent) == 1


def test_sending_counts_a_metric_and_the_delay_from_the_due_time(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    # Given a scheduled message dispatched 2.5 s after its time
    scheduled = START + timedelta(seconds=90)
    repository.put(a_message(message_id=ID, scheduled_at=scheduled))
    clock.set(scheduled + timedelta(seconds=2.5))

    dispatch(repository, ScriptedCarrier(TAKEN), clock)

    assert metric_values("MessagesSent") == [1.0]
    assert metric_values("SendDelay") == [2500.0]


def test_a_send_recorded_after_the_lease_expired_is_still_reported_sent(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    # Given a send so slow that the sweeper failed the message (lease expired) while it was in flight
    repository.put(a_message(message_id=ID))

    def sweeper_fails_it(_: OutboundMessage) -> None:
        repository.record_failed(ORG, ID, now=clock.now, errors=[LEASE_EXPIRED])

    carrier = ScriptedCarrier(TAKEN, on_send=sweeper_fails_it)

    # When the carrier accepts it anyway
    outcome = dispatch(repository, carrier, clock)

    # Then the carrier had it once, the sweeper's verdict stands, and nothing is billed
    assert outcome is Outcome.SENT
    assert len(carrier.sent) == 1
    message = stored(repository)
    assert message.status is Status.FAILED
    assert message.errors == (LEASE_EXPIRED,)
    assert message.cost.amount == 0


# -- not claimed ----------------------------------------------------------------------------------


def test_an_unknown_message_is_skipped(repository: InMemoryMessageRepository, clock: FakeClock) -> None:
    carrier = ScriptedCarrier(TAKEN)

    assert dispatch(repository, carrier, clock) is Outcome.SKIPPED
    assert carrier.sent == []


@pytest.mark.parametrize(
    "status", [Status.SENDING, Status.SENT, Status.DELIVERED, Status.FAILED, Status.CANCELED, Status.EXPIRED]
)
def test_a_message_that_is_not_queued_is_skipped_and_left_alone(
    repository: InMemoryMessageRepository, clock: FakeClock, status: Status
) -> None:
    # Given a message that was canceled, expired, already claimed or already done
    repository.put(a_message(message_id=ID, status=status))
    carrier = ScriptedCarrier(TAKEN)

    # When a (duplicate, late or racing) delivery reaches the dispatcher
    outcome = dispatch(repository, carrier, clock)

    # Then the carrier is never called and nothing changes
    assert outcome is Outcome.SKIPPED
    assert carrier.sent == []
    assert stored(repository).status is status
    assert repository.calls == ["claim"]


def test_a_message_canceled_just_before_the_claim_is_never_sent(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    repository.put(a_message(message_id=ID))
    repository.before["claim"] = lambda: repository.cancel(ORG, ID, clock.now)
    carrier = ScriptedCarrier(TAKEN)

    assert dispatch(repository, carrier, clock) is Outcome.SKIPPED
    assert carrier.sent == []
    assert stored(repository).status is Status.CANCELED


def test_a_scheduled_message_delivered_early_is_skipped_and_stays_queued(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    repository.put(a_message(message_id=ID, scheduled_at=clock.now + timedelta(seconds=30)))
    carrier = ScriptedCarrier(TAKEN)

    assert dispatch(repository, carrier, clock) is Outcome.SKIPPED

    assert carrier.sent == []
    assert stored(repository).status is Status.QUEUED
    clock.advance(30)
    assert dispatch(repository, carrier, clock) is Outcome.SENT


@pytest.mark.parametrize("past", [timedelta(0), timedelta(seconds=1), timedelta(days=1)])
def test_a_message_at_or_past_valid_until_is_expired_not_sent(
    repository: InMemoryMessageRepository, clock: FakeClock, past: timedelta
) -> None:
    repository.put(a_message(message_id=ID, valid_until=clock.now - past))
    carrier = ScriptedCarrier(TAKEN)

    outcome = dispatch(repository, carrier, clock)

    assert outcome is Outcome.EXPIRED
    assert carrier.sent == []
    message = stored(repository)
    assert message.status is Status.EXPIRED
    assert message.completed_at == clock.now
    assert message.cost.amount == 0
    assert metric_values("MessagesExpired") == [1.0]


def test_a_message_still_valid_is_sent(repository: InMemoryMessageRepository, clock: FakeClock) -> None:
    repository.put(a_message(message_id=ID, valid_until=clock.now + timedelta(milliseconds=1)))

    assert dispatch(repository, ScriptedCarrier(TAKEN), clock) is Outcome.SENT


def test_an_expiry_lost_to_a_cancel_is_a_skip(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    # Given a stale message canceled between the failed claim and the expiry
    repository.put(a_message(message_id=ID, valid_until=clock.now - timedelta(seconds=5)))
    repository.before["expire"] = lambda: repository.cancel(ORG, ID, clock.now)

    outcome = dispatch(repository, ScriptedCarrier(TAKEN), clock)

    assert outcome is Outcome.SKIPPED
    assert stored(repository).status is Status.CANCELED
    assert metric_values("MessagesExpired") == []


# -- refused -------------------------------------------------------------------------------------


def test_a_retryable_refusal_puts_the_message_back_for_another_try(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    repository.put(a_message(message_id=ID))
    carrier = ScriptedCarrier(THROTTLED, TAKEN)

    # When the carrier throttles the first attempt
    first = dispatch(repository, carrier, clock)

    # Then the message is queued again, due for the sweeper after the retry delay, unbilled
    assert first is Outcome.RETRY
    message = stored(repository)
    assert message.status is Status.QUEUED
    assert message.attempts == 1
    assert message.errors == ()
    assert repository.due_at(ORG, ID) == clock.now + RETRY_DELAY

    # And the next delivery sends it as attempt 2
    clock.advance(60)
    assert dispatch(repository, carrier, clock) is Outcome.SENT
    assert [sent.attempt for sent in carrier.sent] == [1, 2]
    assert stored(repository).attempts == 2


def test_a_retryable_refusal_on_the_last_attempt_fails_the_message(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    # Given a message that used all but one of its attempts
    repository.put(a_message(message_id=ID, attempts=POLICY.max_attempts - 1))
    carrier = ScriptedCarrier(THROTTLED)

    outcome = dispatch(repository, carrier, clock)

    assert outcome is Outcome.FAILED
    assert carrier.sent[0].attempt == POLICY.max_attempts
    message = stored(repository)
    assert message.status is Status.FAILED
    assert message.errors == (MessageError(code="CARRIER_THROTTLED", detail="slow down"),)
    assert message.completed_at == clock.now
    assert metric_values("MessagesFailed") == [1.0]


def test_a_message_always_throttled_fails_after_max_attempts(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    repository.put(a_message(message_id=ID))
    carrier = ScriptedCarrier(THROTTLED)

    outcomes = []
    for _ in range(POLICY.max_attempts + 2):
        outcomes.append(dispatch(repository, carrier, clock))
        clock.advance(60)

    assert outcomes == [Outcome.RETRY] * (POLICY.max_attempts - 1) + [Outcome.FAILED] + [Outcome.SKIPPED] * 2
    assert len(carrier.sent) == POLICY.max_attempts


def test_a_permanent_refusal_fails_the_message_with_the_carrier_error(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    repository.put(a_message(message_id=ID))

    outcome = dispatch(repository, ScriptedCarrier(OPTED_OUT), clock)

    assert outcome is Outcome.FAILED
    message = stored(repository)
    assert message.status is Status.FAILED
    assert message.errors == (MessageError(code="DESTINATION_OPTED_OUT", detail="the recipient opted out"),)
    assert message.sent_at is None
    assert message.cost.amount == 0
    assert repository.due_at(ORG, ID) is None


def test_a_retryable_refusal_after_the_lease_expired_keeps_the_sweepers_verdict(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    # Given the sweeper failed the message while the (refused) send was in flight
    repository.put(a_message(message_id=ID))

    def sweeper_fails_it(_: OutboundMessage) -> None:
        repository.record_failed(ORG, ID, now=clock.now, errors=[LEASE_EXPIRED])

    outcome = dispatch(repository, ScriptedCarrier(THROTTLED, on_send=sweeper_fails_it), clock)

    # Then the message is not put back (the release lost) and it stays failed as the sweeper said
    assert outcome is Outcome.FAILED
    message = stored(repository)
    assert message.status is Status.FAILED
    assert message.errors == (LEASE_EXPIRED,)
    assert repository.calls == ["claim", "record_failed", "release", "record_failed"]


# -- sandbox and concurrency -------------------------------------------------------------------------


def test_the_sandbox_table_drives_each_outcome(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    sandbox = SandboxCarrier()
    numbers = {
        "+15555550101": Outcome.FAILED,
        "+15555550102": Outcome.RETRY,
        "+15555550103": Outcome.SENT,
        "+15555550104": Outcome.FAILED,
        "+15555550199": Outcome.SENT,
    }
    for index, number in enumerate(numbers):
        repository.put(a_message(message_id=f"0193a6c0-0000-7000-8000-00000000010{index}", to=number))

    outcomes = {
        number: dispatch(repository, sandbox, clock, message_id=f"0193a6c0-0000-7000-8000-00000000010{index}")
        for index, number in enumerate(numbers)
    }

    assert outcomes == numbers


def test_concurrent_deliveries_of_one_message_reach_the_carrier_once(
    repository: InMemoryMessageRepository, clock: FakeClock
) -> None:
    repository.put(a_message(message_id=ID))
    sandbox = SandboxCarrier()
    barrier = threading.Barrier(8)
    outcomes: list[Outcome] = []

    def deliver() -> None:
        barrier.wait()
        outcomes.append(dispatch(repository, sandbox, clock))

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == sorted([Outcome.SENT] + [Outcome.SKIPPED] * 7)
    assert sandbox.times_accepted(ID) == 1
