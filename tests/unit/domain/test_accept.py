"""accept_message: stored first, then on its way; once per request key, whatever became of an attempt."""

from datetime import timedelta
from typing import Any

import pytest

from agentmessage.domain.accept import SWEEP_GRACE, accept_message
from agentmessage.domain.caller import Caller
from agentmessage.domain.commands import NewMessage, Once
from agentmessage.domain.errors import RequestKeyReused, Unavailable, ValidationFailed
from agentmessage.domain.message import Message, Mode
from agentmessage.domain.status import Status
from tests.support.fakes import START, FakeTriggers, InMemoryMessageRepository
from tests.support.messages import ORG, RECIPIENT, SENDER

SENDER_KEY = Caller(org_id=ORG, key_id="key_1", mode=Mode.TEST, scopes=frozenset({"messages:send"}))


def command(**fields: Any) -> NewMessage:
    return NewMessage(**({"from_": SENDER, "to": RECIPIENT, "text": "Your code is 123456"} | fields))


def accept(
    repository: InMemoryMessageRepository,
    triggers: FakeTriggers,
    new: NewMessage | None = None,
    *,
    key: str | None = None,
    at: timedelta = timedelta(0),
) -> Message:
    return accept_message(
        new or command(),
        SENDER_KEY,
        repository=repository,
        triggers=triggers,
        now=START + at,
        request_key=key,
    )


def test_a_message_is_stored_then_enqueued_and_its_enqueue_noted() -> None:
    repository, triggers = InMemoryMessageRepository(), FakeTriggers()

    message = accept(repository, triggers)

    assert repository.calls == ["create", "postpone"]
    assert triggers.queue == [(ORG, message.id)]
    assert repository.peek(ORG, message.id) == message
    assert repository.due_at(ORG, message.id) == START + SWEEP_GRACE
    (entry,) = repository.due(
        int(repository.due_shard(message.id)), START + timedelta(hours=1), 10, None
    ).entries
    assert entry.enqueued_at == START


def test_a_scheduled_message_is_noted_as_enqueued_at_its_time() -> None:
    repository, triggers = InMemoryMessageRepository(), FakeTriggers()
    at = START + timedelta(hours=1)

    message = accept(repository, triggers, command(scheduled_at=at))

    assert triggers.schedules == {message.id: (ORG, at)}
    (entry,) = repository.due(
        int(repository.due_shard(message.id)), at + timedelta(hours=1), 10, None
    ).entries
    assert entry.enqueued_at == at


def test_a_failed_enqueue_is_not_noted_and_the_message_stands() -> None:
    # Given a queue that refuses every enqueue
    repository, triggers = InMemoryMessageRepository(), FakeTriggers(fail=True)

    # When a message is sent, it is accepted (stored), and nothing claims it is on the queue
    message = accept(repository, triggers)
    assert repository.calls == ["create"]
    (entry,) = repository.due(
        int(repository.due_shard(message.id)), START + timedelta(hours=1), 10, None
    ).entries
    assert entry.enqueued_at is None


def test_a_note_that_fails_does_not_fail_the_request() -> None:
    repository, triggers = InMemoryMessageRepository(), FakeTriggers()

    def unavailable() -> None:
        raise Unavailable()

    repository.before["postpone"] = unavailable
    message = accept(repository, triggers)
    assert triggers.queue == [(ORG, message.id)]


def test_a_key_makes_one_message_however_often_the_request_is_retried() -> None:
    repository, triggers = InMemoryMessageRepository(), FakeTriggers()

    first = accept(repository, triggers, key="order-1")
    again = accept(repository, triggers, key="order-1", at=timedelta(seconds=30))

    assert again == first
    assert repository.all() == [first]
    assert [message_id for _, message_id in triggers.queue] == [first.id, first.id]  # offered again


def test_a_retry_of_a_message_already_claimed_is_answered_as_it_was_accepted() -> None:
    # Given a message accepted under a key, and claimed by the dispatcher since
    repository, triggers = InMemoryMessageRepository(), FakeTriggers()
    first = accept(repository, triggers, key="order-2")
    repository.claim(ORG, first.id, START, lease_until=START + timedelta(minutes=5))

    # When the request is retried, it is answered as first accepted (as Powertools answers a
    # completed key); offering it to the queue again is harmless: the claim refuses a second send
    again = accept(repository, triggers, key="order-2")
    assert again == first
    assert repository.peek(ORG, first.id).status is Status.SENDING  # type: ignore[union-attr]
    assert repository.all() == [repository.peek(ORG, first.id)]


def test_the_same_key_with_another_request_is_refused() -> None:
    repository, triggers = InMemoryMessageRepository(), FakeTriggers()
    accept(repository, triggers, key="order-3")

    with pytest.raises(RequestKeyReused):
        accept(repository, triggers, command(text="another text"), key="order-3")
    assert len(repository.all()) == 1


def test_the_same_key_in_another_org_is_another_key() -> None:
    assert Once.of("org_a", "k", command()).digest != Once.of("org_b", "k", command()).digest


def test_a_retry_answered_although_its_schedule_no_longer_meets_the_rules() -> None:
    # Given a send accepted 90 s ahead under a key
    repository, triggers = InMemoryMessageRepository(), FakeTriggers()
    new = command(scheduled_at=START + timedelta(seconds=90))
    first = accept(repository, triggers, new, key="order-4")

    # When it is retried 45 s later (scheduled_at now under the 60 s minimum)
    again = accept(repository, triggers, new, key="order-4", at=timedelta(seconds=45))

    # Then it is answered as accepted, not refused
    assert again == first


def test_a_request_that_breaks_a_rule_stores_nothing_and_leaves_its_key_free() -> None:
    repository, triggers = InMemoryMessageRepository(), FakeTriggers()
    with pytest.raises(ValidationFailed):
        accept(repository, triggers, command(to="12"), key="order-5")
    assert repository.all() == []
    assert accept(repository, triggers, key="order-5").status is Status.QUEUED
