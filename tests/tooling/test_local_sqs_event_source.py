"""The local stack's SQS event source: concurrent batches on a moto queue (the embedded AWS endpoint,
started by each test on 127.0.0.1), delivered to a fake function that records what overlaps."""

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest

from agentmessage_local.faults import EmbeddedAws
from agentmessage_local.resources import REGION, planned_stack
from agentmessage_local.sqs_event_source import (
    QueueEventSource,
    Turns,
    event_maximum_concurrency,
    failed_message_ids,
    poller_count,
)
from agentmessage_local.template import FunctionSpec, functions
from agentmessage_local.workers import Invocation, concurrency_limit

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

STOP_WITHIN_SECONDS = 3.0  # a long poll (1 s; moto may take 2) and the time to notice


class OverlapRecorder:
    """A fake function: each invocation takes ``seconds``; it records every batch's bodies, how
    many invocations ran at once at most, and fails each body in ``fail_once`` the first time."""

    def __init__(self, spec: FunctionSpec, *, seconds: float = 0.3, fail_once: frozenset[str] = frozenset()):
        self.spec = spec
        self._seconds = seconds
        self._fail_once = set(fail_once)
        self._lock = threading.Lock()
        self._running = 0
        self.most_at_once = 0
        self.batches: list[list[str]] = []

    def invoke(self, event: Any, *, request_id: str | None = None) -> Invocation:
        records = event["Records"]
        with self._lock:
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
            self.batches.append([record["body"] for record in records])
            failing = [record for record in records if record["body"] in self._fail_once]
            self._fail_once -= {record["body"] for record in failing}
        time.sleep(self._seconds)
        with self._lock:
            self._running -= 1
        return Invocation(result={"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in failing]})

    def delivered(self) -> list[str]:
        with self._lock:
            return [body for batch in self.batches for body in batch]

    def stop(self) -> None:
        pass


class ReceiveLog:
    """Stands in for the SQS client: passes every call on, and records each ReceiveMessage's
    wait and how many were in flight at once."""

    def __init__(self, sqs: "SQSClient") -> None:
        self._sqs = sqs
        self._lock = threading.Lock()
        self._in_flight = 0
        self.most_in_flight = 0
        self.waits: list[int] = []

    def receive_message(self, **kwargs: Any) -> Any:
        with self._lock:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
            self.waits.append(kwargs["WaitTimeSeconds"])
        try:
            return self._sqs.receive_message(**kwargs)
        finally:
            with self._lock:
                self._in_flight -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


@dataclass(frozen=True)
class Queue:
    sqs: "SQSClient"
    url: str
    arn: str

    def send(self, count: int) -> list[str]:
        bodies = [f"message-{n:02d}" for n in range(count)]
        for start in range(0, count, 10):
            self.sqs.send_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])
                ],
            )
        return bodies

    def left(self) -> int:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


@pytest.fixture
def queue() -> Iterator[Queue]:
    aws = EmbeddedAws("127.0.0.1", 0)
    aws.start()
    try:
        sqs = boto3.client("sqs", endpoint_url=aws.url, region_name=REGION)
        url = sqs.create_queue(QueueName=f"dispatch-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        yield Queue(sqs, url, arn)
    finally:
        aws.stop()


@pytest.fixture
def spec() -> FunctionSpec:
    return functions()["DispatchFunction"]


class Running:
    """An event source's ``run`` in a thread, stopped (and checked to stop promptly) at the end."""

    def __init__(self, source: QueueEventSource) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=source.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def end(self) -> float:
        """Stop it; the seconds its pollers took to end."""
        started = time.monotonic()
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive(), "a poller is still running"
        return time.monotonic() - started


def wait_until(done: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "not done in time"
        time.sleep(0.02)


def source(queue: Queue, worker: OverlapRecorder, pollers: int, **options: Any) -> QueueEventSource:
    return QueueEventSource(
        sqs=queue.sqs,
        worker=worker,
        queue_url=queue.url,
        queue_arn=queue.arn,
        batch_size=10,
        report_batch_item_failures=True,
        pollers=pollers,
        **options,
    )


# -- how many pollers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("maximum_concurrency", "function_limit", "pollers"),
    [
        (10, 4, 4),  # the template's default, capped by the local limit of 4 workers
        (3, 4, 3),
        (2, 4, 2),
        (1, 4, 2),  # below Lambda's minimum for MaximumConcurrency: its minimum
        (None, 4, 4),  # no MaximumConcurrency: up to the function's own limit
        (10, 1, 1),  # a function that runs one at a time
        (None, 1, 1),
    ],
)
def test_the_pollers_are_the_events_maximum_concurrency_capped_by_the_functions_limit(
    maximum_concurrency: int | None, function_limit: int, pollers: int
) -> None:
    assert poller_count(maximum_concurrency, function_limit) == pollers


def test_the_dispatchers_maximum_concurrency_is_resolved_through_the_stacks_parameters(
    spec: FunctionSpec,
) -> None:
    # Given the dispatcher's SQS event, whose MaximumConcurrency is !Ref DispatchMaxConcurrency
    [event] = [event for event in spec.events.values() if event["Type"] == "SQS"]
    properties = event["Properties"]
    # When it is resolved with the parameter's default, and with an override
    default = event_maximum_concurrency(properties, planned_stack(prefix="t"))
    overridden = event_maximum_concurrency(
        properties, planned_stack(prefix="t", parameters={"DispatchMaxConcurrency": "3"})
    )
    # Then each is the parameter's value, and the stack runs that many pollers up to the function's limit
    assert (default, overridden) == (10, 3)
    assert poller_count(default, concurrency_limit(spec)) == concurrency_limit(spec) == 4
    assert poller_count(overridden, concurrency_limit(spec)) == 3
    assert event_maximum_concurrency({"Queue": "q"}, planned_stack(prefix="t")) is None


# -- a backlog, an idle queue, a stop ---------------------------------------------------------------------


def test_a_backlog_is_delivered_with_several_batches_in_flight_never_more_than_the_pollers(
    queue: Queue, spec: FunctionSpec
) -> None:
    # Given a backlog of 50 messages and an event source of 3 pollers
    sent = queue.send(50)
    worker = OverlapRecorder(spec)
    running = Running(source(queue, worker, pollers=3))
    # When it delivers them
    wait_until(lambda: len(worker.delivered()) >= 50)
    wait_until(lambda: queue.left() == 0)
    # Then more than one batch ran at once, never more than 3, and each message came once
    assert 1 < worker.most_at_once <= 3
    assert sorted(worker.delivered()) == sent
    assert all(len(batch) <= 10 for batch in worker.batches)
    assert running.end() < STOP_WITHIN_SECONDS


def test_an_idle_queue_invokes_nothing_and_costs_one_long_poll_at_a_time(
    queue: Queue, spec: FunctionSpec
) -> None:
    # Given an empty queue and an event source of 4 pollers
    worker = OverlapRecorder(spec)
    receives = ReceiveLog(queue.sqs)
    running = Running(source(Queue(cast("SQSClient", receives), queue.url, queue.arn), worker, pollers=4))
    # When it polls for a while
    time.sleep(2.5)
    # Then the function was never invoked, and the queue saw only long polls, one at a time
    assert worker.batches == []
    assert receives.waits
    assert set(receives.waits) == {1}
    assert receives.most_in_flight == 1
    assert len(receives.waits) <= 5
    # And a stop ends every poller promptly
    assert running.end() < STOP_WITHIN_SECONDS


def test_a_failed_record_is_retried_after_the_retry_delay_and_the_rest_deleted(
    queue: Queue, spec: FunctionSpec
) -> None:
    # Given a backlog in which one message fails its first delivery (reported as a batch item failure)
    sent = queue.send(25)
    worker = OverlapRecorder(spec, seconds=0.1, fail_once=frozenset({"message-07"}))
    running = Running(source(queue, worker, pollers=2, retry_delay_seconds=1))
    # When the source delivers them
    wait_until(lambda: len(worker.delivered()) >= 26)
    wait_until(lambda: queue.left() == 0)
    running.end()
    # Then the failed one came back once, after the others of its batch were deleted for good
    delivered = worker.delivered()
    assert delivered.count("message-07") == 2
    assert sorted(set(delivered)) == sent
    assert len(delivered) == 26


def test_the_turn_goes_to_who_asked_first_and_a_stop_gives_up_waiting() -> None:
    # Given a turn held by one poller, and another waiting for it
    turns = Turns()
    assert turns.take()
    order: list[str] = []
    waiting = threading.Thread(target=lambda: order.append("waiting" if turns.take() else "gave up"))
    waiting.start()
    wait_until(lambda: not turns.take(wait=False) and len(turns._waiting) == 1)
    # When the holder gives it back and asks again at once
    turns.give_back()
    again = threading.Thread(target=lambda: order.append("again" if turns.take() else "gave up"))
    again.start()
    waiting.join(5)
    # Then the one that waited had it first
    assert order == ["waiting"]
    turns.give_back()
    again.join(5)
    assert order == ["waiting", "again"]
    # And a poller waiting while the source stops gives up its place
    stop = threading.Event()
    stopped: list[bool] = []
    late = threading.Thread(target=lambda: stopped.append(turns.take(stop)))
    late.start()
    stop.set()
    late.join(5)
    assert stopped == [False]
    turns.give_back()
    assert turns.take(wait=False)


def test_sqs_batch_answers_are_read_as_lambda_reads_them() -> None:
    ids = {"a", "b"}
    failures = {"batchItemFailures": [{"itemIdentifier": "b"}]}
    assert failed_message_ids(Invocation(result=failures), ids, True) == {"b"}
    assert failed_message_ids(Invocation(result={"batchItemFailures": []}), ids, True) == set()
    assert failed_message_ids(Invocation(result=None), ids, True) == set()
    assert (
        failed_message_ids(Invocation(result={"batchItemFailures": [{"itemIdentifier": "zz"}]}), ids, True)
        == ids
    )
    assert failed_message_ids(Invocation(result={"batchItemFailures": [{"id": "a"}]}), ids, True) == ids
    assert failed_message_ids(Invocation(error={"errorType": "X", "errorMessage": ""}), ids, True) == ids
    assert failed_message_ids(Invocation(result=failures), ids, False) == set()  # not reporting: all done
