"""One suite, two repositories: the in-memory one the unit tests use and the DynamoDB one on moto.

Every change of the status machine is tried from every status: won from its sources (the message
after the change), lost from any other (the message as it was, from the failed write itself), and
on no message at all. Every write is also sent twice with the first answer lost, as botocore
resends a timed-out call: the writes that must recognise their own earlier write do, in both.
Whatever passes here for one passes for the other, so a unit test's verdict holds on DynamoDB.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import boto3
import pytest
from moto import mock_aws

from agentmessage.domain.message import Channel, Cost, Message, MessageError, Mode, Priority
from agentmessage.domain.ports import MessageRepository, Transition
from agentmessage.domain.status import CHANGES, LIVE, Change, Status
from agentmessage.integration.message_items import to_item
from agentmessage.integration.messages_table import DynamoMessageRepository
from agentmessage_local.template import table_definitions
from tests.support.fakes import START, InMemoryMessageRepository
from tests.support.messages import ORG, a_message

NOW = START + timedelta(minutes=10)
LEASE = NOW + timedelta(minutes=5)
DUE = NOW + timedelta(minutes=1)
ERRORS = [MessageError(code="CARRIER_REJECTED", detail="refused")]
PROVIDER = "p-1"


class ReplayingClient:
    """A DynamoDB client whose next ``replays`` updates are each sent twice, the first answer lost."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.replays = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_item(self, **params: Any) -> Any:
        if self.replays:
            self.replays -= 1
            self._client.update_item(**params)  # applied; its answer never arrives
        return self._client.update_item(**params)


class Store(Protocol):
    @property
    def repository(self) -> MessageRepository: ...

    def given(self, message: Message, due_at: datetime | None = None) -> None:
        """Store ``message`` as it is, in any status (a test's given, with no condition)."""

    def replay_next_write(self) -> None:
        """Send the next write twice, its first answer lost."""


@dataclass
class InMemory:
    repository: InMemoryMessageRepository

    def given(self, message: Message, due_at: datetime | None = None) -> None:
        self.repository.put(message, due_at)

    def replay_next_write(self) -> None:
        self.repository.replays += 1


@dataclass
class Dynamo:
    repository: DynamoMessageRepository
    client: ReplayingClient
    table: str

    def given(self, message: Message, due_at: datetime | None = None) -> None:
        item = to_item(message)
        if message.status in LIVE:
            item["due_shard"] = {"S": self.repository.due_shard(message.id)}
            item["due_at"] = {"S": (due_at or message.due_at).isoformat(timespec="milliseconds")}
        self.client.put_item(TableName=self.table, Item=item)

    def replay_next_write(self) -> None:
        self.client.replays += 1


@pytest.fixture(params=["in-memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "in-memory":
        yield InMemory(InMemoryMessageRepository())
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        definition = table_definitions()["MessagesTable"]
        client.create_table(TableName="messages", **definition["create"])
        replaying = ReplayingClient(client)
        repository = DynamoMessageRepository(replaying, "messages")  # type: ignore[arg-type]
        yield Dynamo(repository, replaying, "messages")


def everything(**fields: Any) -> Message:
    """A message with every optional field set."""
    values: dict[str, Any] = {
        "org_id": ORG,
        "mode": Mode.LIVE,
        "channel": Channel.MMS,
        "priority": Priority.HIGH,
        "tag": "order-7421",
        "scheduled_at": START + timedelta(minutes=1),
        "valid_until": START + timedelta(hours=1),
        "webhook_url": "https://hooks.example.com/am",
        "created_at": START,
        "parts": 2,
        "cost": Cost(Decimal("0.0400")),
        "attempts": 1,
    }
    return a_message(**(values | fields))


def queued(**fields: Any) -> Message:
    """A message the dispatcher may claim at ``NOW``: due, still valid."""
    values: dict[str, Any] = {"org_id": ORG, "created_at": START}
    return a_message(**(values | fields))


def record_sent(repository: MessageRepository, message_id: str) -> Transition:
    return repository.record_sent(
        ORG, message_id, now=NOW, provider_message_id=PROVIDER, carrier="sandbox", cost=Decimal("0.0079")
    )


def receipt(
    repository: MessageRepository, message_id: str, change: Change, error: MessageError | None = None
) -> Transition:
    return repository.record_receipt(
        ORG, message_id, change, provider_message_id=PROVIDER, at=NOW, error=error
    )


# How each change is asked for, of a message that meets the change's other conditions at NOW.
WRITES: dict[Change, Callable[[MessageRepository, str], Transition]] = {
    Change.CANCEL: lambda repository, message_id: repository.cancel(ORG, message_id, NOW),
    Change.CLAIM: lambda repository, message_id: repository.claim(ORG, message_id, NOW, lease_until=LEASE),
    Change.EXPIRE: lambda repository, message_id: repository.expire(ORG, message_id, NOW),
    Change.RELEASE: lambda repository, message_id: repository.release(ORG, message_id, due_at=DUE),
    Change.POSTPONE: lambda repository, message_id: repository.postpone(ORG, message_id, due_at=DUE),
    Change.RECORD_SENT: lambda repository, message_id: record_sent(repository, message_id),
    Change.RECORD_FAILED: lambda repository, message_id: repository.record_failed(
        ORG, message_id, now=NOW, errors=ERRORS
    ),
    Change.RECEIPT_DELIVERED: lambda repository, message_id: receipt(
        repository, message_id, Change.RECEIPT_DELIVERED
    ),
    Change.RECEIPT_UNDELIVERED: lambda repository, message_id: receipt(
        repository, message_id, Change.RECEIPT_UNDELIVERED, MessageError(code="BLOCKED", detail="blocked")
    ),
    Change.RECEIPT_UNCONFIRMED: lambda repository, message_id: receipt(
        repository,
        message_id,
        Change.RECEIPT_UNCONFIRMED,
        MessageError(code="DELIVERY_UNCONFIRMED", detail="?"),
    ),
}
RECEIPTS = {Change.RECEIPT_DELIVERED, Change.RECEIPT_UNDELIVERED, Change.RECEIPT_UNCONFIRMED}


def in_status(status: Status, change: Change) -> Message:
    """A message in ``status`` that meets every condition of ``change`` but the status: already stale
    for an expiry, sent as the receipt's provider id for a receipt."""
    if change is Change.EXPIRE:
        return queued(
            status=status, valid_until=NOW - timedelta(seconds=1) if status is Status.QUEUED else None
        )
    if change in RECEIPTS:
        return queued(status=status, provider_message_id=PROVIDER, sent_at=START)
    return queued(status=status)


def test_every_change_of_the_status_machine_has_a_write() -> None:
    assert set(WRITES) == set(Change)


def test_a_message_reads_back_as_it_was_stored(store: Store) -> None:
    message = everything()
    store.repository.create(message, due_at=START)
    assert store.repository.get(ORG, message.id) == message


def test_another_orgs_message_is_not_found(store: Store) -> None:
    message = everything()
    store.repository.create(message, due_at=START)
    assert store.repository.get("org_other", message.id) is None


@pytest.mark.parametrize("change", sorted(WRITES), ids=str)
@pytest.mark.parametrize("status", list(Status), ids=str)
def test_a_change_is_won_from_its_sources_and_lost_from_any_other_status(
    store: Store, change: Change, status: Status
) -> None:
    # Given a message in the status, meeting the change's other conditions
    message = in_status(status, change)
    store.given(message)

    # When the change is asked for
    outcome = WRITES[change](store.repository, message.id)

    # Then it is won exactly from the change's sources, and the answer holds the message
    edge = CHANGES[change]
    assert outcome.won is (status in edge.sources)
    assert outcome.message is not None
    if outcome.won:
        assert outcome.message.status is edge.target
    else:  # the message as it was, from the failed write itself
        assert outcome.message == message
    assert store.repository.get(ORG, message.id) == outcome.message


@pytest.mark.parametrize("change", sorted(WRITES), ids=str)
def test_a_change_to_no_message_is_lost_with_nothing(store: Store, change: Change) -> None:
    assert WRITES[change](store.repository, a_message().id) == Transition(won=False, message=None)


@pytest.mark.parametrize(
    ("case", "message", "write"),
    [
        ("claim before the schedule", queued(scheduled_at=NOW + timedelta(seconds=1)), WRITES[Change.CLAIM]),
        ("claim once stale", queued(valid_until=NOW), WRITES[Change.CLAIM]),
        ("expire while valid", queued(valid_until=NOW + timedelta(seconds=1)), WRITES[Change.EXPIRE]),
        ("expire with no validity", queued(), WRITES[Change.EXPIRE]),
        (
            "fail before the lease ends",
            queued(status=Status.SENDING),
            lambda repository, message_id: repository.record_failed(
                ORG, message_id, now=NOW, errors=ERRORS, lease_expired=True
            ),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_change_whose_other_condition_fails_is_lost(
    store: Store, case: str, message: Message, write: Callable[[MessageRepository, str], Transition]
) -> None:
    store.given(message, due_at=LEASE if message.status is Status.SENDING else None)
    assert write(store.repository, message.id) == Transition(won=False, message=message)


def test_a_lease_that_has_passed_lets_the_sweeper_fail_the_send(store: Store) -> None:
    message = queued(status=Status.SENDING)
    store.given(message, due_at=NOW)
    outcome = store.repository.record_failed(ORG, message.id, now=NOW, errors=ERRORS, lease_expired=True)
    assert outcome.won
    assert outcome.message is not None
    assert (outcome.message.status, outcome.message.errors) == (Status.FAILED, tuple(ERRORS))


# A write sent twice, its first answer lost: what each must make of the item it already changed.
RECOGNISED = {
    Change.CLAIM, Change.RELEASE, Change.POSTPONE, Change.RECORD_SENT, Change.RECORD_FAILED, *RECEIPTS,
}  # fmt: skip
# These are lost the second time, the message left as the first write made it; the use cases read
# that as done (a canceled message is answered again, an expired one is left alone).
NOT_RECOGNISED = {Change.CANCEL, Change.EXPIRE}


def test_every_write_is_listed_as_recognising_its_retry_or_not() -> None:
    assert set(WRITES) == RECOGNISED | NOT_RECOGNISED
    assert not RECOGNISED & NOT_RECOGNISED


@pytest.mark.parametrize("change", sorted(WRITES), ids=str)
def test_a_write_resent_after_its_answer_was_lost_knows_its_own_write(store: Store, change: Change) -> None:
    # Given a message the change applies to, and a write whose first answer will be lost
    edge = CHANGES[change]
    (source,) = edge.sources
    message = in_status(source, change)
    store.given(message)
    store.replay_next_write()

    # When the change is asked for (applied once, then sent again)
    outcome = WRITES[change](store.repository, message.id)

    # Then the message is as one write made it, and the outcome is won where the write recognises itself
    assert outcome.message is not None
    assert outcome.message.status is edge.target
    assert outcome.won is (change in RECOGNISED)
    if change is Change.CLAIM:
        assert outcome.message.attempts == message.attempts + 1  # counted once


def test_a_second_claim_is_not_mistaken_for_a_retry_of_the_first(store: Store) -> None:
    # Given a message claimed once (a duplicate queue delivery then claims it again)
    message = queued()
    store.given(message)
    first = WRITES[Change.CLAIM](store.repository, message.id)

    # Then the second claim, a write of its own, is lost: only the first may send
    second = WRITES[Change.CLAIM](store.repository, message.id)
    assert (first.won, second.won) == (True, False)
    assert second.message == first.message


def test_the_due_index_holds_live_messages_due_by_now_in_order(store: Store) -> None:
    # Given messages due at different times, one not yet due, and one terminal
    repository = store.repository
    times = [START + timedelta(seconds=seconds) for seconds in (30, 10, 20)]
    due = [queued(created_at=moment) for moment in times]
    for message, moment in zip(due, times, strict=True):
        repository.create(message, due_at=moment)
    later = queued()
    repository.create(later, due_at=NOW + timedelta(hours=1))
    done = queued()
    repository.create(done, due_at=START)
    assert repository.cancel(ORG, done.id, NOW).won

    # When every shard is read at NOW
    entries = []
    for shard in range(4):
        page = repository.due(shard, NOW, 100, None)
        entries.extend(page.entries)

    # Then exactly the due live messages are there, with their due times
    assert sorted((entry.due_at, entry.id) for entry in entries) == sorted(
        (moment, message.id) for message, moment in zip(due, times, strict=True)
    )
    assert all(entry.status is Status.QUEUED for entry in entries)


def test_a_receipt_of_another_send_is_lost(store: Store) -> None:
    message = queued(status=Status.SENT, provider_message_id="another-send", sent_at=START)
    store.given(message)
    outcome = receipt(store.repository, message.id, Change.RECEIPT_DELIVERED)
    assert outcome == Transition(won=False, message=message)


def test_an_unconfirmed_outcome_is_recorded_once_and_a_definite_one_follows_it(store: Store) -> None:
    message = in_status(Status.SENT, Change.RECEIPT_UNCONFIRMED)
    store.given(message)
    unsure = MessageError(code="DELIVERY_UNCONFIRMED", detail="?")
    assert receipt(store.repository, message.id, Change.RECEIPT_UNCONFIRMED, unsure).won
    again = store.repository.record_receipt(
        ORG, message.id, Change.RECEIPT_UNCONFIRMED, provider_message_id=PROVIDER, at=DUE, error=unsure
    )
    assert not again.won  # a second unconfirmed report is a duplicate
    delivered = receipt(store.repository, message.id, Change.RECEIPT_DELIVERED)
    assert delivered.won
    assert delivered.message is not None
    assert (delivered.message.status, delivered.message.errors) == (Status.DELIVERED, ())


def test_a_released_message_is_no_longer_known_to_wait_on_the_queue(store: Store) -> None:
    # Given a message noted as enqueued, then claimed, then refused by the carrier as retryable
    repository = store.repository
    message = queued()
    repository.create(message, due_at=START)
    assert repository.postpone(ORG, message.id, due_at=START, enqueued_at=START).won
    assert repository.claim(ORG, message.id, NOW, lease_until=LEASE).won

    # When it is released, due again a minute later
    assert repository.release(ORG, message.id, due_at=NOW + timedelta(minutes=1)).won

    # Then the due index holds it without an enqueued time: its record is in flight, not in the
    # queue's backlog, so the sweeper offers it again once it is due rather than waiting on it
    entries = [
        entry
        for shard in range(4)
        for entry in repository.due(shard, NOW + timedelta(minutes=1), 100, None).entries
        if entry.id == message.id
    ]
    assert [(entry.status, entry.enqueued_at) for entry in entries] == [(Status.QUEUED, None)]
