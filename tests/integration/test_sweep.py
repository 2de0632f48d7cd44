"""The sweep handler on its EventBridge schedule, against moto: lost enqueues and schedules are
recovered, stale messages expire, stuck sends fail, and the due index is read with a bound."""

import json
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from agentmessage.api.v1.representation import to_v1
from agentmessage.carriers.base import OutboundMessage, SendResult, TimeLeft, no_time_limit
from agentmessage.domain.accept import SWEEP_GRACE, sweep_due_at
from agentmessage.domain.message import Message
from agentmessage.domain.status import Status
from agentmessage.domain.sweep import LEASE_EXPIRED
from agentmessage.integration import aws_clients
from agentmessage.integration.messages_table import DynamoMessageRepository
from agentmessage.integration.time_budget import PIPELINE
from tests.integration.conftest import Aws, Invoke
from tests.support.containers import dispatcher_sandbox
from tests.support.events import authorizer_context, scheduled_event, send_event, sqs_event
from tests.support.fakes import START, FakeClock
from tests.support.messages import a_message
from tests.support.queues import drain as drain_queue
from tests.support.queues import lose

ORG = "org_a"


@pytest.fixture
def send(invoke: Callable[[str], Invoke], fake_clock: FakeClock) -> Callable[..., str]:
    """POST /v1/messages as org_a: the accepted message's id."""

    def post(**fields: Any) -> str:
        body = {"from": "+15555550100", "to": "+15555550199", "text": "Your code is 123456"} | fields
        response = invoke("SendMessageFunction")(send_event(body, authorizer=authorizer_context(org_id=ORG)))
        assert response["statusCode"] == 202, response["body"]
        message_id: str = json.loads(response["body"])["data"]["id"]
        return message_id

    return post


@pytest.fixture
def sweep(invoke: Callable[[str], Invoke]) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        return invoke("SweepFunction")(scheduled_event())

    return run


@pytest.fixture
def dispatch(invoke: Callable[[str], Invoke]) -> Callable[[list[str]], list[str]]:
    def run(bodies: list[str]) -> list[str]:
        response = invoke("DispatchFunction")(sqs_event(bodies))
        return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]

    return run


def drain(aws: Aws) -> list[str]:
    return drain_queue(aws.client("sqs"), aws.stack.refs["DispatchQueue"])


def repository(aws: Aws) -> DynamoMessageRepository:
    return DynamoMessageRepository(aws.client("dynamodb"), aws.stack.refs["MessagesTable"])


def stored(aws: Aws, message_id: str) -> Message:
    message = repository(aws).get(ORG, message_id)
    assert message is not None
    return message


def ids_in(bodies: list[str]) -> list[str]:
    return [json.loads(body)["id"] for body in bodies]


# -- lost triggers --------------------------------------------------------------------------------


def test_a_lost_enqueue_is_recovered_once_the_grace_has_passed(
    aws: Aws,
    send: Callable[..., str],
    sweep: Callable[[], dict[str, Any]],
    dispatch: Callable[[list[str]], list[str]],
    fake_clock: FakeClock,
) -> None:
    # Given an immediate message whose enqueue failed (the send still answered 202)
    lose("sqs", "SendMessage")
    message_id = send()
    assert drain(aws) == []

    # When the sweeper runs within the grace (45 s), it leaves the message alone
    fake_clock.advance(SWEEP_GRACE.total_seconds() - 1)
    assert sweep()["requeued"] == 0
    assert drain(aws) == []

    # Then once the grace has passed it re-enqueues it, and the dispatcher sends it
    fake_clock.advance(2)
    report = sweep()
    assert report["requeued"] == 1
    bodies = drain(aws)
    assert ids_in(bodies) == [message_id]
    assert dispatch(bodies) == []
    message = stored(aws, message_id)
    assert message.status is Status.SENT
    assert message.sent_at == START + SWEEP_GRACE + timedelta(seconds=1)
    assert dispatcher_sandbox().times_accepted(message_id) == 1


@pytest.mark.parametrize("how", ["the schedule was never created", "the schedule never fired"])
def test_a_lost_schedule_is_recovered_once_the_grace_after_its_time_has_passed(
    aws: Aws,
    send: Callable[..., str],
    sweep: Callable[[], dict[str, Any]],
    dispatch: Callable[[list[str]], list[str]],
    fake_clock: FakeClock,
    how: str,
) -> None:
    # Given a message scheduled for 06:05 whose schedule is lost
    if how == "the schedule was never created":
        lose("scheduler", "CreateSchedule")
    message_id = send(scheduled_at="2026-11-22T06:05:00Z")
    scheduled = START + timedelta(minutes=5)

    # Sweeps up to its time plus the grace leave it alone
    for seconds in (0, 60, 120, 180, 240, 300, 300 + SWEEP_GRACE.total_seconds() - 1):
        fake_clock.set(START + timedelta(seconds=seconds))
        assert sweep()["requeued"] == 0
    assert drain(aws) == []

    # When the sweeper runs after the grace it is recovered and sent
    fake_clock.set(scheduled + SWEEP_GRACE + timedelta(seconds=1))
    assert sweep()["requeued"] == 1
    assert dispatch(drain(aws)) == []
    message = stored(aws, message_id)
    assert message.status is Status.SENT
    assert message.sent_at is not None
    assert message.sent_at - scheduled <= timedelta(minutes=2)


def test_a_message_known_to_be_on_the_queue_waits_there_while_the_queue_has_a_backlog(
    aws: Aws,
    send: Callable[..., str],
    sweep: Callable[[], dict[str, Any]],
    dispatch: Callable[[list[str]], list[str]],
    fake_clock: FakeClock,
) -> None:
    # Given a message enqueued (and noted so), still waiting on the queue past its grace
    message_id = send()
    fake_clock.advance(61)

    # When the sweeper runs, it is left waiting rather than enqueued a second time
    report = sweep()
    assert (report["requeued"], report["waiting"]) == (0, 1)
    bodies = drain(aws)
    assert ids_in(bodies) == [message_id]

    # And its one copy is sent once
    assert dispatch(bodies) == []
    assert dispatcher_sandbox().times_accepted(message_id) == 1


def test_a_known_enqueue_whose_copy_left_the_queue_unsent_is_offered_again(
    aws: Aws, send: Callable[..., str], sweep: Callable[[], dict[str, Any]], fake_clock: FakeClock
) -> None:
    # Given a message enqueued, whose copy left the queue without being sent (received and lost)
    message_id = send()
    assert ids_in(drain(aws)) == [message_id]
    fake_clock.advance(61)

    # When the sweeper runs, the queue holds no backlog it could be in: it is enqueued again
    assert sweep()["requeued"] == 1
    assert ids_in(drain(aws)) == [message_id]


def test_a_slow_first_delivery_and_the_sweepers_copy_send_once(
    aws: Aws,
    send: Callable[..., str],
    sweep: Callable[[], dict[str, Any]],
    dispatch: Callable[[list[str]], list[str]],
    fake_clock: FakeClock,
) -> None:
    # Given a message whose first copy is late (received, not yet handled): the sweeper, seeing no
    # backlog on the queue, enqueues a second copy
    message_id = send()
    first = drain(aws)
    fake_clock.advance(61)
    assert sweep()["requeued"] == 1
    bodies = first + drain(aws)
    assert ids_in(bodies) == [message_id, message_id]

    # When both copies reach the dispatcher, it sends once
    assert dispatch(bodies) == []
    assert dispatcher_sandbox().times_accepted(message_id) == 1


def test_a_requeued_message_is_postponed_not_requeued_at_the_next_sweep(
    aws: Aws, send: Callable[..., str], sweep: Callable[[], dict[str, Any]], fake_clock: FakeClock
) -> None:
    lose("sqs", "SendMessage")
    message_id = send()
    fake_clock.advance(61)
    assert sweep()["requeued"] == 1

    # A sweep a few seconds later does not enqueue it again
    fake_clock.advance(5)
    assert sweep()["requeued"] == 0
    # A minute on, its copy still on the queue, it is left to wait there
    fake_clock.advance(60)
    assert sweep()["requeued"] == 0
    assert ids_in(drain(aws)) == [message_id]
    # Once that copy is gone unsent (lost as well), it is enqueued again
    fake_clock.advance(60)
    assert sweep()["requeued"] == 1
    assert ids_in(drain(aws)) == [message_id]


# -- expiry and leases -------------------------------------------------------------------------------


def test_a_queued_message_past_valid_until_is_expired(
    aws: Aws, send: Callable[..., str], sweep: Callable[[], dict[str, Any]], fake_clock: FakeClock
) -> None:
    # Given a message valid for 40 s whose enqueue was lost
    lose("sqs", "SendMessage")
    message_id = send(valid_until="2026-11-22T06:00:40Z")

    fake_clock.advance(39)
    assert sweep()["expired"] == 0
    fake_clock.advance(1)
    report = sweep()

    assert (report["expired"], report["requeued"]) == (1, 0)
    assert drain(aws) == []
    data = to_v1(stored(aws, message_id))
    assert data["status"] == "expired"
    assert data["completed_at"] == "2026-11-22T06:00:40.000Z"
    assert data["cost"]["amount"] == "0.0000"
    assert dispatcher_sandbox().times_accepted(message_id) == 0


def test_a_send_stuck_past_its_lease_is_failed_and_never_sent_again(
    aws: Aws,
    monkeypatch: pytest.MonkeyPatch,
    send: Callable[..., str],
    sweep: Callable[[], dict[str, Any]],
    dispatch: Callable[[list[str]], list[str]],
    fake_clock: FakeClock,
) -> None:
    # Given a dispatcher that dies after the carrier took the message, before recording it
    sandbox = dispatcher_sandbox()
    accept = sandbox.send

    def accept_then_die(message: OutboundMessage, *, time_left: TimeLeft = no_time_limit) -> SendResult:
        accept(message, time_left=time_left)
        raise TimeoutError("the Lambda timed out")

    monkeypatch.setattr(sandbox, "send", accept_then_die)
    message_id = send()
    bodies = drain(aws)
    assert len(dispatch(bodies)) == 1
    monkeypatch.setattr(sandbox, "send", accept)
    assert stored(aws, message_id).status is Status.SENDING

    # When SQS delivers the record again, the message is not sent twice
    fake_clock.advance(180)
    assert dispatch(bodies) == []

    # And the sweeper fails it once its lease (300 s) is over, not before
    fake_clock.set(START + timedelta(seconds=299))
    assert sweep()["failed"] == 0
    fake_clock.set(START + timedelta(seconds=300))
    report = sweep()
    assert (report["failed"], report["requeued"]) == (1, 0)
    message = stored(aws, message_id)
    assert message.status is Status.FAILED
    assert message.errors == (LEASE_EXPIRED,)
    assert to_v1(message)["errors"] == [{"code": "SEND_OUTCOME_UNKNOWN", "detail": LEASE_EXPIRED.detail}]

    # It is out of the due index: later sweeps and deliveries never touch it again
    fake_clock.advance(3600)
    assert sweep() == {
        "pages": 4,
        "requeued": 0,
        "waiting": 0,
        "expired": 0,
        "failed": 0,
        "errors": 0,
        "truncated_shards": [],
        "out_of_time": False,
    }
    assert dispatch(bodies) == []
    assert sandbox.times_accepted(message_id) == 1


# -- bounded reading -----------------------------------------------------------------------------------


def test_the_sweeper_reads_the_due_index_page_by_page_with_a_bound_and_never_scans(
    aws: Aws,
    monkeypatch: pytest.MonkeyPatch,
    sweep: Callable[[], dict[str, Any]],
    fake_clock: FakeClock,
) -> None:
    # Given 40 queued messages whose enqueues were lost, and a sweeper allowed 2 pages of 3 per shard
    shards, page_size, max_pages = 4, 3, 2
    monkeypatch.setenv("SWEEP_SHARDS", str(shards))
    monkeypatch.setenv("SWEEP_PAGE_SIZE", str(page_size))
    monkeypatch.setenv("SWEEP_MAX_PAGES", str(max_pages))
    store = DynamoMessageRepository(aws.client("dynamodb"), aws.stack.refs["MessagesTable"], shards)
    messages = [a_message(created_at=START) for _ in range(40)]
    for message in messages:
        store.create(message, due_at=sweep_due_at(message))
    # ...and sent or canceled messages, which are not in the index at all
    for _ in range(20):
        done = a_message(created_at=START)
        store.create(done, due_at=sweep_due_at(done))
        store.cancel(ORG, done.id, START)

    calls: Counter[str] = Counter()
    dynamodb = aws_clients.dynamodb(PIPELINE)

    def count(event_name: str, **_: Any) -> None:
        calls[event_name.rsplit(".", 1)[-1]] += 1

    dynamodb.meta.events.register("before-call.dynamodb.*", count)
    fake_clock.advance(61)

    # When the sweeper runs
    report = sweep()

    # Then it queried at most shards x max_pages pages, never scanned, and said where it stopped
    assert calls["Scan"] == 0
    assert 0 < calls["Query"] <= shards * max_pages
    assert report["pages"] == calls["Query"]
    assert report["requeued"] <= shards * max_pages * page_size
    assert report["truncated_shards"]

    # And the next sweeps (requeued messages are postponed) get through the rest, each bounded
    total = report["requeued"]
    for _ in range(10):
        calls.clear()
        total += sweep()["requeued"]
        assert calls["Scan"] == 0
        assert calls["Query"] <= shards * max_pages
    assert total == 40
    requeued = ids_in(drain(aws))
    assert sorted(requeued) == sorted(message.id for message in messages)


# -- a lease is the item's, not the index's ----------------------------------------------------------


def test_a_stuck_send_is_failed_only_once_the_items_own_lease_has_passed(aws: Aws) -> None:
    # Given a message claimed with a lease to 06:05 (the index may lag behind a newer claim)
    repository = DynamoMessageRepository(aws_clients.dynamodb(PIPELINE), aws.stack.refs["MessagesTable"])
    message = a_message()
    repository.create(message, due_at=START)
    assert repository.claim(ORG, message.id, START, lease_until=START + timedelta(minutes=5)).won

    # When a sweep acts on it before the lease has passed, the write refuses
    early = repository.record_failed(
        ORG, message.id, now=START + timedelta(minutes=4), errors=[LEASE_EXPIRED], lease_expired=True
    )
    assert not early.won
    assert stored(aws, message.id).status is Status.SENDING

    # Then after the lease it fails it, once
    late = repository.record_failed(
        ORG, message.id, now=START + timedelta(minutes=5), errors=[LEASE_EXPIRED], lease_expired=True
    )
    assert late.won
    assert stored(aws, message.id).errors == (LEASE_EXPIRED,)


def test_a_claim_whose_answer_was_lost_is_recognised_by_its_retry(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a claim that DynamoDB applied but whose answer was lost: botocore sends it again,
    # with the same token, and the condition (queued) now fails on the claim's own write
    repository = DynamoMessageRepository(aws_clients.dynamodb(PIPELINE), aws.stack.refs["MessagesTable"])
    message = a_message()
    repository.create(message, due_at=START)
    token = uuid.UUID("00000000-0000-4000-8000-000000000001")
    monkeypatch.setattr("agentmessage.integration.messages_table.uuid.uuid4", lambda: token)
    lease = START + timedelta(minutes=5)
    assert repository.claim(ORG, message.id, START, lease_until=lease).won

    # When the same claim arrives again
    retried = repository.claim(ORG, message.id, START, lease_until=lease)

    # Then it is the claim's own win, not a lost race
    assert retried.won
    assert retried.message is not None
    assert (retried.message.status, retried.message.attempts) == (Status.SENDING, 1)

    # But another dispatcher's claim (another token) still loses
    monkeypatch.undo()
    assert not repository.claim(ORG, message.id, START, lease_until=lease).won


def test_a_record_whose_answer_was_lost_is_recognised_by_its_retry(aws: Aws) -> None:
    # Given a message recorded as sent, whose answer was lost
    repository = DynamoMessageRepository(aws_clients.dynamodb(PIPELINE), aws.stack.refs["MessagesTable"])
    message = a_message()
    repository.create(message, due_at=START)
    repository.claim(ORG, message.id, START, lease_until=START + timedelta(minutes=5))

    def record(provider_message_id: str) -> bool:
        return repository.record_sent(
            ORG,
            message.id,
            now=START,
            provider_message_id=provider_message_id,
            carrier="sandbox",
            cost=Decimal("0.0079"),
        ).won

    assert record("p-1")

    # When the same record arrives again it is its own win; another provider id is not
    assert record("p-1")
    assert not record("p-2")


def test_a_release_or_a_failure_whose_answer_was_lost_is_recognised_by_its_retry(aws: Aws) -> None:
    # Given a claimed message released for a retry, whose answer was lost
    repository = DynamoMessageRepository(aws_clients.dynamodb(PIPELINE), aws.stack.refs["MessagesTable"])
    message = a_message()
    repository.create(message, due_at=START)
    repository.claim(ORG, message.id, START, lease_until=START + timedelta(minutes=5))
    retry_at = START + timedelta(minutes=1)
    assert repository.release(ORG, message.id, due_at=retry_at).won

    # When the same release arrives again it is its own win; a release for another time is not
    assert repository.release(ORG, message.id, due_at=retry_at).won
    assert not repository.release(ORG, message.id, due_at=retry_at + timedelta(seconds=1)).won

    # And likewise a failure recorded twice with the same moment
    repository.claim(ORG, message.id, retry_at, lease_until=retry_at + timedelta(minutes=5))
    failed_at = retry_at + timedelta(seconds=2)
    assert repository.record_failed(ORG, message.id, now=failed_at, errors=[LEASE_EXPIRED]).won
    assert repository.record_failed(ORG, message.id, now=failed_at, errors=[LEASE_EXPIRED]).won
    later = failed_at + timedelta(seconds=1)
    assert not repository.record_failed(ORG, message.id, now=later, errors=[LEASE_EXPIRED]).won


def test_an_unreadable_row_is_reported_and_does_not_stop_the_sweep(
    aws: Aws, send: Callable[..., str], sweep: Callable[[], dict[str, Any]], fake_clock: FakeClock
) -> None:
    # Given two lost sends, and a row of the due index whose status no code knows
    lose("sqs", "SendMessage")
    good = [send(), send()]
    dynamodb, table = aws.client("dynamodb"), aws.stack.refs["MessagesTable"]
    bad = a_message()
    DynamoMessageRepository(dynamodb, table).create(bad, due_at=START)
    dynamodb.update_item(
        TableName=table,
        Key={"org_id": {"S": ORG}, "id": {"S": bad.id}},
        UpdateExpression="SET #status = :odd",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":odd": {"S": "teleported"}},
    )
    fake_clock.advance(SWEEP_GRACE.total_seconds() + 1)

    # When the sweeper runs
    report = sweep()

    # Then the good ones are recovered, and the bad row is counted as an error, not a crash
    assert report["requeued"] == 2
    assert report["errors"] == 1
    assert sorted(ids_in(drain(aws))) == sorted(good)
