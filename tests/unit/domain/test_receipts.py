"""Receipts: the one table, finality from the receipt's flag, and order that does not matter."""

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentmessage.domain.message import Message
from agentmessage.domain.receipts import (
    RECEIPT_RULES,
    UNCONFIRMED,
    Applied,
    Outcome,
    Receipt,
    apply_receipt,
    rule_for,
)
from agentmessage.domain.status import Status
from agentmessage.observability import metrics
from tests.support.fakes import START, InMemoryMessageRepository
from tests.support.messages import ORG, a_message

SENT_AT = START + timedelta(seconds=1)
PROVIDER = "provider-1"


def sent_message() -> tuple[InMemoryMessageRepository, Message]:
    repository = InMemoryMessageRepository()
    message = a_message(status=Status.SENT, sent_at=SENT_AT, provider_message_id=PROVIDER, created_at=START)
    repository.put(message)
    return repository, message


def receipt(
    message: Message, event_type: str, final: bool, seconds: int = 5, foreign: dict[str, str] | None = None
) -> Receipt:
    names = {"org_id": message.org_id, "message_id": message.id, "provider_message_id": PROVIDER} | (
        foreign or {}
    )
    return Receipt(
        org_id=names["org_id"],
        message_id=names["message_id"],
        provider_message_id=names["provider_message_id"],
        event_type=event_type,
        final=final,
        at=SENT_AT + timedelta(seconds=seconds),
    )


def stored(repository: InMemoryMessageRepository, message: Message) -> Message:
    found = repository.peek(ORG, message.id)
    assert found is not None
    return found


# -- the table ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["TEXT_", "MEDIA_"])
@pytest.mark.parametrize("name", sorted(RECEIPT_RULES))
def test_a_receipt_that_is_not_final_never_changes_anything(prefix: str, name: str) -> None:
    assert rule_for(prefix + name, final=False).outcome is Outcome.PENDING


@pytest.mark.parametrize(
    ("event_type", "outcome", "code"),
    [
        ("TEXT_DELIVERED", Outcome.DELIVERED, None),
        ("TEXT_SUCCESSFUL", Outcome.DELIVERED, None),
        ("MEDIA_DELIVERED", Outcome.DELIVERED, None),
        ("TEXT_UNREACHABLE", Outcome.UNDELIVERED, "DESTINATION_UNREACHABLE"),
        ("TEXT_CARRIER_UNREACHABLE", Outcome.UNDELIVERED, "CARRIER_UNREACHABLE"),
        ("TEXT_BLOCKED", Outcome.UNDELIVERED, "BLOCKED"),
        ("TEXT_CARRIER_BLOCKED", Outcome.UNDELIVERED, "CARRIER_BLOCKED"),
        ("TEXT_SPAM", Outcome.UNDELIVERED, "SPAM"),
        ("TEXT_INVALID", Outcome.UNDELIVERED, "INVALID_DESTINATION"),
        ("TEXT_TTL_EXPIRED", Outcome.UNDELIVERED, "TTL_EXPIRED"),
        ("MEDIA_FILE_TYPE_UNSUPPORTED", Outcome.UNDELIVERED, "MEDIA_REFUSED"),
        ("TEXT_UNKNOWN", Outcome.UNCONFIRMED, None),
        ("TEXT_PENDING", Outcome.UNCONFIRMED, None),  # final, yet on its way: confirms nothing
        ("TEXT_SOMETHING_NEW", Outcome.UNCONFIRMED, None),  # a type the table does not know
    ],
)
def test_a_final_receipt_means_what_the_table_says(
    event_type: str, outcome: Outcome, code: str | None
) -> None:
    rule = rule_for(event_type, final=True)
    assert (rule.outcome, rule.code) == (outcome, code)


# -- applying one -----------------------------------------------------------------------------------


def test_a_final_delivered_receipt_delivers_the_message_and_completes_it() -> None:
    metrics.clear_metrics()
    repository, message = sent_message()

    assert apply_receipt(receipt(message, "TEXT_DELIVERED", True), repository=repository) is Applied.CHANGED

    delivered = stored(repository, message)
    assert (delivered.status, delivered.completed_at, delivered.errors) == (
        Status.DELIVERED,
        SENT_AT + timedelta(seconds=5),
        (),
    )
    assert metrics.metric_set["MessagesDelivered"]["Value"] == [1.0]
    assert metrics.metric_set["DeliveryDelay"]["Value"] == [5000.0]


def test_a_final_undelivered_receipt_names_the_reason() -> None:
    repository, message = sent_message()
    apply_receipt(receipt(message, "TEXT_BLOCKED", True), repository=repository)
    undelivered = stored(repository, message)
    assert undelivered.status is Status.UNDELIVERED
    assert [error.code for error in undelivered.errors] == ["BLOCKED"]
    assert undelivered.completed_at is not None


def test_a_final_unknown_leaves_it_sent_completed_and_marked_unconfirmed() -> None:
    repository, message = sent_message()
    apply_receipt(receipt(message, "TEXT_UNKNOWN", True), repository=repository)
    unconfirmed = stored(repository, message)
    assert (unconfirmed.status, unconfirmed.errors) == (Status.SENT, (UNCONFIRMED,))
    assert unconfirmed.completed_at == SENT_AT + timedelta(seconds=5)


def test_a_definite_outcome_may_follow_an_unconfirmed_one() -> None:
    repository, message = sent_message()
    apply_receipt(receipt(message, "TEXT_UNKNOWN", True), repository=repository)
    apply_receipt(receipt(message, "TEXT_DELIVERED", True, seconds=9), repository=repository)
    assert (stored(repository, message).status, stored(repository, message).errors) == (Status.DELIVERED, ())


def test_a_receipt_before_the_send_is_recorded_is_tried_again_later() -> None:
    repository = InMemoryMessageRepository()
    message = a_message(status=Status.SENDING, created_at=START)
    repository.put(message)
    assert apply_receipt(receipt(message, "TEXT_DELIVERED", True), repository=repository) is Applied.RETRY
    assert stored(repository, message).status is Status.SENDING


@pytest.mark.parametrize(
    "foreign",
    [
        {"org_id": "org_other"},
        {"message_id": "0193a6c0-0000-7000-8000-00000000dead"},
        {"provider_message_id": "x"},
    ],
    ids=["another-org", "no-such-message", "another-send"],
)
def test_a_receipt_for_no_message_of_its_org_is_dropped(foreign: dict[str, str]) -> None:
    repository, message = sent_message()
    outcome = apply_receipt(receipt(message, "TEXT_DELIVERED", True, foreign=foreign), repository=repository)
    assert outcome is Applied.UNKNOWN_MESSAGE
    assert stored(repository, message).status is Status.SENT


def test_a_duplicate_and_a_late_progress_report_change_nothing() -> None:
    repository, message = sent_message()
    apply_receipt(receipt(message, "TEXT_DELIVERED", True), repository=repository)
    once = stored(repository, message)
    assert apply_receipt(receipt(message, "TEXT_DELIVERED", True), repository=repository) is Applied.UNCHANGED
    assert apply_receipt(receipt(message, "TEXT_PENDING", False, seconds=1), repository=repository) is (
        Applied.UNCHANGED
    )
    assert stored(repository, message) == once


# -- order does not matter ------------------------------------------------------------------------------

# A message's receipts as a carrier reports them: steps on the way, then at most one definite final
# outcome, perhaps after an unconfirmed one (AWS's UNKNOWN after 72 hours without an outcome).
ON_THE_WAY = st.lists(st.sampled_from(["TEXT_QUEUED", "TEXT_PENDING", "TEXT_SUCCESSFUL"]), max_size=3)
DEFINITE = st.sampled_from(
    ["TEXT_DELIVERED", "TEXT_SUCCESSFUL", "TEXT_UNREACHABLE", "TEXT_BLOCKED", "TEXT_SPAM"]
)


@st.composite
def receipt_sequences(draw: st.DrawFn) -> list[tuple[str, bool]]:
    steps = [(event_type, False) for event_type in draw(ON_THE_WAY)]
    if draw(st.booleans()):
        steps.append(("TEXT_UNKNOWN", True))
    final = draw(st.one_of(st.none(), DEFINITE))
    if final is not None:
        steps.append((final, True))
    return steps


def final_status(sequence: list[tuple[str, bool]]) -> tuple[Status, tuple[str, ...]]:
    repository, message = sent_message()
    for index, (event_type, final) in enumerate(sequence):
        apply_receipt(receipt(message, event_type, final, seconds=index), repository=repository)
    after = stored(repository, message)
    return after.status, tuple(error.code for error in after.errors)


@settings(max_examples=300, deadline=None)
@given(sequence=receipt_sequences(), data=st.data())
def test_any_order_with_duplicates_ends_as_the_ordered_sequence(
    sequence: list[tuple[str, bool]], data: st.DataObject
) -> None:
    # Given a message's receipts, delivered at least once each, in any order
    duplicated = sequence + data.draw(
        st.lists(st.sampled_from(sequence), max_size=4) if sequence else st.just([])
    )
    shuffled = data.draw(st.permutations(duplicated))

    # Then the message ends as it would had they come once each, in order
    assert final_status(shuffled) == final_status(sequence)
