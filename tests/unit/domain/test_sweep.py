"""sweep: every branch, against the in-memory repository and queue."""

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from agentmessage.domain.accept import SWEEP_GRACE, sweep_due_at
from agentmessage.domain.errors import Unavailable
from agentmessage.domain.message import Message
from agentmessage.domain.status import Status
from agentmessage.domain.sweep import LEASE_EXPIRED, MAX_QUEUE_WAIT, REQUEUE_INTERVAL, SweepReport, sweep
from agentmessage.observability import metrics
from tests.support.fakes import START, FakeClock, FakeTriggers, InMemoryMessageRepository
from tests.support.messages import a_message

ORG = "org_a"
SHARDS = 4


@pytest.fixture(autouse=True)
def _fresh_metrics() -> Iterator[None]:
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture
def repository() -> InMemoryMessageRepository:
    return InMemoryMessageRepository(due_shards=SHARDS)


@pytest.fixture
def queue() -> FakeTriggers:
    return FakeTriggers()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def run(
    repository: InMemoryMessageRepository,
    queue: FakeTriggers,
    clock: FakeClock,
    *,
    page_size: int = 100,
    max_pages: int = 10,
) -> SweepReport:
    return sweep(
        repository=repository,
        requeue=queue,
        now=clock.now,
        shards=SHARDS,
        page_size=page_size,
        max_pages=max_pages,
    )


def message_id(number: int) -> str:
    return f"0193a6c0-0000-7000-8000-{number:012d}"


def accepted(repository: InMemoryMessageRepository, message: Message) -> Message:
    """Store ``message`` as ``accept_message`` does: due for the sweeper a minute after its time."""
    repository.create(message, due_at=sweep_due_at(message))
    return message


def stored(repository: InMemoryMessageRepository, number: int) -> Message:
    message = repository.peek(ORG, message_id(number))
    assert message is not None
    return message


def metric_values(name: str) -> list[float]:
    return list(metrics.metric_set.get(name, {}).get("Value", []))


def test_an_empty_index_reads_one_page_per_shard_and_does_nothing(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    report = run(repository, queue, clock)

    assert report == SweepReport(pages=SHARDS)
    assert queue.batches == []
    assert metric_values("MessagesRequeued") == [0.0]
    assert metric_values("MessagesExpired") == []
    assert metric_values("MessagesFailed") == []


def test_a_queued_message_is_requeued_only_once_its_time_is_a_minute_past(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    # Given a queued message whose enqueue was lost
    accepted(repository, a_message(message_id=message_id(1)))

    # When the sweeper runs just before the grace period is over
    clock.advance(SWEEP_GRACE.total_seconds() - 1)
    assert run(repository, queue, clock).requeued == 0
    assert queue.queue == []

    # Then it is left alone; once the minute has passed it is re-enqueued and looked at again later
    clock.advance(1)
    report = run(repository, queue, clock)
    assert report.requeued == 1
    assert queue.queue == [(ORG, message_id(1))]
    assert repository.due_at(ORG, message_id(1)) == clock.now + REQUEUE_INTERVAL
    assert stored(repository, 1).status is Status.QUEUED
    assert metric_values("MessagesRequeued") == [0.0, 1.0]


def test_a_scheduled_message_is_requeued_once_the_grace_after_its_schedule_has_passed(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    scheduled = START + timedelta(hours=2)
    accepted(repository, a_message(message_id=message_id(1), scheduled_at=scheduled))

    clock.set(scheduled + SWEEP_GRACE - timedelta(seconds=1))
    assert run(repository, queue, clock).requeued == 0
    clock.set(scheduled + SWEEP_GRACE + timedelta(seconds=1))
    assert run(repository, queue, clock).requeued == 1


def test_a_requeued_message_is_postponed_not_requeued_by_the_next_sweep(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    accepted(repository, a_message(message_id=message_id(1)))
    clock.advance(61)
    run(repository, queue, clock)

    # A sweep a few seconds later leaves it alone
    clock.advance(5)
    assert run(repository, queue, clock).requeued == 0

    # If it is still queued a minute later (that enqueue was lost too), it is requeued again
    clock.advance(60)
    assert run(repository, queue, clock).requeued == 1
    assert queue.queue == [(ORG, message_id(1))] * 2


def test_a_queued_message_past_valid_until_is_expired_not_requeued(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    # Given a message valid for 30 s: it is due for the sweeper at valid_until, before the grace
    accepted(repository, a_message(message_id=message_id(1), valid_until=START + timedelta(seconds=30)))
    assert repository.due_at(ORG, message_id(1)) == START + timedelta(seconds=30)

    clock.advance(30)
    report = run(repository, queue, clock)

    assert report.expired == 1
    assert report.requeued == 0
    assert queue.batches == []
    message = stored(repository, 1)
    assert message.status is Status.EXPIRED
    assert message.completed_at == clock.now
    assert repository.due_at(ORG, message_id(1)) is None
    assert metric_values("MessagesExpired") == [1.0]


def test_a_message_still_valid_is_requeued(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    accepted(repository, a_message(message_id=message_id(1), valid_until=START + timedelta(minutes=10)))
    clock.advance(61)

    report = run(repository, queue, clock)

    assert (report.requeued, report.expired) == (1, 0)


def test_an_expiry_lost_to_a_racing_cancel_is_not_counted(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    accepted(repository, a_message(message_id=message_id(1), valid_until=START + timedelta(seconds=30)))
    repository.before["expire"] = lambda: repository.cancel(ORG, message_id(1), clock.now)
    clock.advance(31)

    report = run(repository, queue, clock)

    assert report.expired == 0
    assert stored(repository, 1).status is Status.CANCELED
    assert metric_values("MessagesExpired") == []


def test_a_message_stuck_in_sending_past_its_lease_is_failed_and_never_requeued(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    # Given a message claimed by a dispatcher that died (lease: 300 s)
    accepted(repository, a_message(message_id=message_id(1)))
    repository.claim(ORG, message_id(1), clock.now, lease_until=clock.now + timedelta(seconds=300))

    # When the sweeper runs within the lease, nothing happens
    clock.advance(299)
    assert run(repository, queue, clock) == SweepReport(pages=SHARDS)

    # After the lease, it is failed as "outcome unknown", not re-sent
    clock.advance(1)
    report = run(repository, queue, clock)
    assert report.failed == 1
    assert queue.batches == []
    message = stored(repository, 1)
    assert message.status is Status.FAILED
    assert message.errors == (LEASE_EXPIRED,)
    assert message.errors[0].code == "SEND_OUTCOME_UNKNOWN"
    assert metric_values("MessagesFailed") == [1.0]


def test_a_lease_failure_lost_to_a_late_record_is_not_counted(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    accepted(repository, a_message(message_id=message_id(1)))
    repository.claim(ORG, message_id(1), clock.now, lease_until=clock.now + timedelta(seconds=300))

    def dispatcher_records_it() -> None:
        repository.record_sent(
            ORG,
            message_id(1),
            now=clock.now,
            provider_message_id="p",
            carrier="sandbox",
            cost=stored(repository, 1).cost.amount,
        )

    repository.before["record_failed"] = dispatcher_records_it
    clock.advance(301)

    report = run(repository, queue, clock)

    assert report.failed == 0
    assert stored(repository, 1).status is Status.SENT
    assert metric_values("MessagesFailed") == []


@pytest.mark.parametrize(
    "status", [Status.CANCELED, Status.DELIVERED, Status.FAILED, Status.EXPIRED, Status.SENT]
)
def test_messages_out_of_the_due_index_are_never_touched(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock, status: Status
) -> None:
    repository.put(a_message(message_id=message_id(1), status=status))
    clock.advance(3600)

    assert run(repository, queue, clock) == SweepReport(pages=SHARDS)
    assert repository.calls == ["due"] * SHARDS


def test_requeues_go_to_the_queue_ten_at_a_time(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    for number in range(25):
        accepted(repository, a_message(message_id=message_id(number)))
    clock.advance(61)

    report = run(repository, queue, clock)

    assert report.requeued == 25
    assert all(1 <= len(batch) <= 10 for batch in queue.batches)
    assert sorted(queue.queue) == sorted((ORG, message_id(number)) for number in range(25))


def test_entries_the_queue_refused_are_offered_again_at_the_next_sweep(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    # Given a queue that takes only some entries of a batch (SendMessageBatch partial failure)
    for number in range(4):
        accepted(repository, a_message(message_id=message_id(number)))
    queue.capacity = 0
    clock.advance(61)

    # When the sweep's own enqueue is refused
    report = run(repository, queue, clock)

    # Then nothing counts as requeued, and the very next sweep tries again (it is not postponed)
    assert report.requeued == 0
    queue.capacity = None
    clock.advance(1)
    assert run(repository, queue, clock).requeued == 4
    assert sorted(queue.queue) == sorted((ORG, message_id(number)) for number in range(4))


def test_a_partially_taken_batch_postpones_what_was_taken_and_offers_the_rest_again(
    queue: FakeTriggers, clock: FakeClock
) -> None:
    # Given three due messages in one shard, and a queue that takes two of them
    repository = InMemoryMessageRepository(due_shards=1)
    for number in range(3):
        accepted(repository, a_message(message_id=message_id(number)))
    queue.capacity = 2
    clock.advance(61)

    report = run(repository, queue, clock)

    assert report.requeued == 2
    taken = list(queue.queue)
    assert len(taken) == 2
    # SQS names the entries it took: those wait an interval, the refused one is offered again at once
    queue.capacity = None
    clock.advance(1)
    assert run(repository, queue, clock).requeued == 1
    (refused,) = {(ORG, message_id(number)) for number in range(3)} - set(taken)
    assert queue.queue[2:] == [refused]


def test_a_postpone_lost_to_a_racing_dispatch_is_harmless(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    # Given the requeued message is claimed by a dispatcher before the sweeper postpones it
    accepted(repository, a_message(message_id=message_id(1)))
    lease = clock.now + timedelta(seconds=361)
    repository.before["postpone"] = lambda: repository.claim(ORG, message_id(1), clock.now, lease)
    clock.advance(61)

    report = run(repository, queue, clock)

    assert report.requeued == 1
    assert stored(repository, 1).status is Status.SENDING
    assert repository.due_at(ORG, message_id(1)) == lease  # the claim's lease, not the postponement


def test_the_index_is_read_page_by_page(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    for number in range(40):
        accepted(repository, a_message(message_id=message_id(number)))
    clock.advance(61)

    report = run(repository, queue, clock, page_size=3, max_pages=100)

    assert report.requeued == 40
    assert report.truncated_shards == []
    per_shard = [
        sum(1 for number in range(40) if repository.due_shard(message_id(number)) == str(shard))
        for shard in range(SHARDS)
    ]
    # A full last page carries a token, so a shard of n entries takes n // 3 + 1 reads.
    assert report.pages == sum(count // 3 + 1 for count in per_shard)


def test_the_reading_is_bounded_and_the_rest_waits_for_the_next_sweep(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    for number in range(40):
        accepted(repository, a_message(message_id=message_id(number)))
    clock.advance(61)

    # When the sweeper may read at most 2 pages of 2 per shard
    first = run(repository, queue, clock, page_size=2, max_pages=2)

    # Then it reads no more than that, says which shards it left unfinished...
    assert first.pages == SHARDS * 2
    assert first.requeued == SHARDS * 4
    assert first.truncated_shards == list(range(SHARDS))
    assert repository.calls.count("due") == SHARDS * 2

    # ...and the following sweeps (requeued messages are postponed) get through the rest
    total = first.requeued
    for _ in range(10):
        total += run(repository, queue, clock, page_size=2, max_pages=2).requeued
    assert total == 40
    assert len(set(queue.queue)) == 40


def test_each_shard_is_read(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    numbers = range(30)
    for number in numbers:
        accepted(repository, a_message(message_id=message_id(number)))
    shards = {repository.due_shard(message_id(number)) for number in numbers}
    assert shards == {str(shard) for shard in range(SHARDS)}
    clock.advance(61)

    assert run(repository, queue, clock).requeued == 30


def test_a_mixed_page_does_each_thing_once(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    accepted(repository, a_message(message_id=message_id(1)))  # lost enqueue
    accepted(
        repository, a_message(message_id=message_id(2), valid_until=START + timedelta(seconds=10))
    )  # stale
    accepted(repository, a_message(message_id=message_id(3)))
    repository.claim(ORG, message_id(3), START, lease_until=START + timedelta(seconds=30))  # stuck
    accepted(
        repository, a_message(message_id=message_id(4), created_at=START + timedelta(seconds=30))
    )  # not yet due
    clock.advance(61)

    report = run(repository, queue, clock)

    assert (report.requeued, report.expired, report.failed) == (1, 1, 1)
    assert queue.queue == [(ORG, message_id(1))]
    assert [stored(repository, number).status for number in (1, 2, 3, 4)] == [
        Status.QUEUED,
        Status.EXPIRED,
        Status.FAILED,
        Status.QUEUED,
    ]


# -- a backlog does not grow duplicates of itself ----------------------------------------------------


def enqueued(repository: InMemoryMessageRepository, number: int, at: datetime = START) -> Message:
    """A message accepted, whose enqueue is known to have succeeded at ``at``."""
    message = accepted(repository, a_message(message_id=message_id(number)))
    repository.postpone(ORG, message.id, sweep_due_at(message), enqueued_at=at)
    return message


def test_a_message_known_to_be_on_the_queue_waits_while_the_queue_has_a_backlog(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    # Given two messages known to be on the queue, a backlog of 1000 behind the dispatcher
    enqueued(repository, 1)
    enqueued(repository, 2)
    queue.waiting = 1000
    clock.advance(61)
    reads: list[int] = []
    backlog = queue.backlog

    def counted() -> int:
        reads.append(1)
        return backlog()

    queue.backlog = counted  # type: ignore[method-assign]

    # When the sweeper runs, neither is enqueued again: each is looked at again a minute later
    report = run(repository, queue, clock)
    assert (report.requeued, report.waiting) == (0, 2)
    assert queue.batches == []
    assert repository.due_at(ORG, message_id(1)) == clock.now + REQUEUE_INTERVAL
    # And the backlog was read once for the whole sweep
    assert len(reads) == 1


def test_a_message_known_to_be_queued_is_offered_again_once_the_queue_has_no_backlog(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    # Given a message known to have been enqueued, and a queue with nothing waiting on it
    enqueued(repository, 1)
    clock.advance(61)

    # Then it is not there: it is offered again (the claim keeps a second copy from sending twice)
    assert run(repository, queue, clock).requeued == 1
    assert queue.queue == [(ORG, message_id(1))]


def test_what_the_sweep_requeued_itself_is_no_backlog_to_wait_behind(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    # Given a message whose enqueue was lost, read first, and one known to have been enqueued whose
    # record is gone too, read after it; the queue holds only what this sweep puts on it
    lost, known = next(
        (a, b)
        for a in range(1, 50)
        for b in range(1, 50)
        if int(repository.due_shard(message_id(a))) < int(repository.due_shard(message_id(b)))
    )
    accepted(repository, a_message(message_id=message_id(lost)))
    enqueued(repository, known)
    queue.backlog = lambda: len(queue.queue)  # type: ignore[method-assign]
    clock.advance(61)

    # When the sweeper runs, the first one's requeue does not hold the second one back
    report = run(repository, queue, clock)
    assert (report.requeued, report.waiting) == (2, 0)
    assert queue.queue == [(ORG, message_id(lost)), (ORG, message_id(known))]


def test_a_message_that_waited_on_the_queue_too_long_is_offered_again_despite_a_backlog(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    enqueued(repository, 1)
    queue.waiting = 1000
    clock.set(START + MAX_QUEUE_WAIT)
    assert run(repository, queue, clock).requeued == 1


def test_a_backlog_that_cannot_be_read_offers_the_message_again(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    enqueued(repository, 1)
    clock.advance(61)

    def backlog_unavailable() -> int:
        raise Unavailable()

    queue.backlog = backlog_unavailable  # type: ignore[method-assign]
    report = run(repository, queue, clock)
    assert (report.requeued, report.errors) == (1, 1)


def test_the_sweepers_own_requeue_is_known_to_be_on_the_queue(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    # Given a message whose enqueue was lost, re-enqueued by a sweep
    accepted(repository, a_message(message_id=message_id(1)))
    clock.advance(61)
    assert run(repository, queue, clock).requeued == 1

    # When, a minute on, that copy still waits behind a backlog, it is not enqueued a third time
    queue.waiting = 50
    clock.advance(60)
    report = run(repository, queue, clock)
    assert (report.requeued, report.waiting) == (0, 1)


# -- stopping in time --------------------------------------------------------------------------------


def test_with_less_time_left_than_a_step_needs_the_sweep_stops_before_it(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    accepted(repository, a_message(message_id=message_id(1)))
    clock.advance(61)

    report = sweep(
        repository=repository,
        requeue=queue,
        now=clock.now,
        shards=SHARDS,
        page_size=100,
        max_pages=10,
        time_left=lambda: 12.0,
        step_reserve=13.0,
    )

    assert report.out_of_time
    assert (report.pages, report.requeued) == (0, 0)
    assert repository.calls == ["create"]
    assert metric_values("SweepOutOfTime") == [1.0]


def test_a_sweep_that_runs_out_of_time_midway_keeps_what_it_did_and_leaves_the_rest_due(
    repository: InMemoryMessageRepository, queue: FakeTriggers, clock: FakeClock
) -> None:
    # Given 30 messages whose enqueues were lost, and time for three steps
    for number in range(1, 31):
        accepted(repository, a_message(message_id=message_id(number)))
    clock.advance(61)
    steps = iter([100.0, 100.0, 100.0])

    def time_left() -> float:
        return next(steps, 0.0)

    report = sweep(
        repository=repository,
        requeue=queue,
        now=clock.now,
        shards=SHARDS,
        page_size=100,
        max_pages=10,
        time_left=time_left,
        step_reserve=13.0,
    )

    # Then it stopped cleanly, what it enqueued is enqueued, and the rest is still due
    assert report.out_of_time
    assert report.requeued == len(queue.queue) <= 20
    later = clock.now + timedelta(seconds=1)
    still_due = sum(len(repository.due(shard, later, 100, None).entries) for shard in range(SHARDS))
    assert still_due >= 30 - report.requeued
