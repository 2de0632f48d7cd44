"""An SQS event source mapping, as Lambda runs one for a function's ``SQS`` event.

``QueueEventSource`` polls the queue with up to ``pollers`` batches in flight at once, as Lambda
scales a queue's pollers with its backlog up to the event's ``ScalingConfig.MaximumConcurrency``
(``poller_count``). Each poller receives up to ``BatchSize`` messages, waiting up to
``MaximumBatchingWindowInSeconds`` to fill a batch, invokes the function, and deletes every record
not listed in ``batchItemFailures`` (all of them when the function failed or answered an invalid
list). Failed records become visible again after ``retry_delay_seconds`` rather than the queue's
visibility timeout, so retries happen locally in seconds; the queue's redrive policy still moves
a record to its dead-letter queue.

An idle queue costs one long poll at a time: the pollers make their SQS calls one after another,
since moto's ReceiveMessage and DeleteMessage are not atomic across threads (two receives could
take one message, two deletes lose one). A receive that finds messages returns at once, so under a
backlog batches are received one right after the other and run side by side.
"""

import base64
import sys
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from agentmessage_local.resources import REGION, Stack
from agentmessage_local.workers import Invocation, Invoker

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

RETRY_DELAY_SECONDS = 2
_LONG_POLL_SECONDS = 1  # how long a receive may wait: also how fast a poller notices a stop
_TURN_POLL_SECONDS = 0.1  # how often a poller waiting for its turn checks for a stop
MIN_MAXIMUM_CONCURRENCY = 2  # Lambda's least ScalingConfig.MaximumConcurrency


def _log(text: str) -> None:
    print(f"triggers: {text}", file=sys.stderr, flush=True)


def event_maximum_concurrency(properties: dict[str, Any], stack: Stack) -> int | None:
    """An SQS event's ``ScalingConfig.MaximumConcurrency``, resolved against the stack's
    parameters; ``None`` when the event sets none."""
    value = properties.get("ScalingConfig", {}).get("MaximumConcurrency")
    return None if value is None else int(stack.resolve(value))


def poller_count(maximum_concurrency: int | None, function_limit: int) -> int:
    """How many batches an SQS event source runs at once: its ``MaximumConcurrency`` (at least
    Lambda's minimum of 2) when it sets one, else as many as the function may run; never more than
    the function's concurrency limit, so a received batch never waits for a worker."""
    if function_limit <= 1:
        return 1
    if maximum_concurrency is None:
        return function_limit
    return min(function_limit, max(MIN_MAXIMUM_CONCURRENCY, maximum_concurrency))


class Turns:
    """A lock handed out in the order it was asked for: a poller that releases it and asks again
    at once (after a long poll that found nothing) goes behind the others, so none waits forever."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiting: deque[threading.Event] = deque()

    def take(self, stop: threading.Event | None = None, *, wait: bool = True) -> bool:
        """Whether the turn was taken: ``False`` without waiting when ``wait`` is false and it is
        busy, or once ``stop`` is set while waiting."""
        with self._mutex:
            if not self._held and not self._waiting:
                self._held = True
                return True
            if not wait:
                return False
            turn = threading.Event()
            self._waiting.append(turn)
        while not turn.wait(_TURN_POLL_SECONDS):
            if stop is not None and stop.is_set():
                with self._mutex:
                    if not turn.is_set():  # not handed over meanwhile: give up the place
                        self._waiting.remove(turn)
                        return False
        return True

    def give_back(self) -> None:
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()  # handed over: it stays held
            else:
                self._held = False


def _sqs_record(message: "MessageTypeDef", queue_arn: str) -> dict[str, Any]:
    """One record of an SQS event, from a ReceiveMessage answer."""
    attributes: dict[str, Any] = {}
    for name, value in message.get("MessageAttributes", {}).items():
        binary = value.get("BinaryValue")
        attributes[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
            "stringListValues": list(value.get("StringListValues", [])),
            "binaryListValues": [base64.b64encode(b).decode() for b in value.get("BinaryListValues", [])],
            "dataType": value.get("DataType"),
        }
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_message_ids(invocation: Invocation, batch_ids: set[str], report_failures: bool) -> set[str]:
    """The records to retry, as Lambda reads a function's answer to an SQS batch."""
    if not invocation.ok:
        return set(batch_ids)
    if not report_failures or not invocation.result:
        return set()
    if not isinstance(invocation.result, dict):
        return set(batch_ids)
    failures = invocation.result.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return set(batch_ids)
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in batch_ids:
            return set(batch_ids)  # an invalid answer fails the whole batch
        failed.add(identifier)
    return failed


class QueueEventSource:
    """One function's SQS event: ``pollers`` threads, each delivering one batch at a time."""

    def __init__(
        self,
        *,
        sqs: "SQSClient",
        worker: Invoker,
        queue_url: str,
        queue_arn: str,
        batch_size: int = 10,
        batching_window_seconds: float = 0,
        report_batch_item_failures: bool = False,
        retry_delay_seconds: int = RETRY_DELAY_SECONDS,
        pollers: int = 1,
    ) -> None:
        if pollers < 1:
            raise ValueError("an event source needs at least one poller")
        self._sqs = sqs
        self._worker = worker
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._batch_size = batch_size
        self._window = batching_window_seconds
        self._report_failures = report_batch_item_failures
        self._retry_delay = retry_delay_seconds
        self.pollers = pollers
        self._sqs_turns = Turns()  # one SQS call of this source at a time

    def run(self, stop: threading.Event) -> None:
        """Poll with every poller until ``stop`` is set; returns once they have all ended (each
        within a long poll, or once its batch is delivered)."""
        name = self._worker.spec.logical_id
        helpers = [
            threading.Thread(target=self._poll_until, args=(stop,), name=f"{name}-poller-{n}", daemon=True)
            for n in range(2, self.pollers + 1)
        ]
        for helper in helpers:
            helper.start()
        _log(f"{name}: {self.pollers} poller(s) on {self._queue_arn.rsplit(':', 1)[-1]}")
        self._poll_until(stop)
        for helper in helpers:
            helper.join()

    def _poll_until(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll(stop)
            except Exception as exc:  # the poller outlives any one failure, as Lambda's does
                if stop.is_set():
                    return
                _log(f"{self._worker.spec.logical_id}: poll failed: {type(exc).__name__}: {exc}")
                stop.wait(1)

    def poll(self, stop: threading.Event) -> int:
        """Receive one batch and deliver it; the number of records delivered."""
        batch = self._receive(self._batch_size, _LONG_POLL_SECONDS, stop)
        if not batch:
            return 0
        window_ends = time.monotonic() + self._window
        while len(batch) < self._batch_size and time.monotonic() < window_ends and not stop.is_set():
            # Not waiting for a turn: a poller that holds it is long-polling an empty queue.
            more = self._receive(self._batch_size - len(batch), 0, stop, wait_for_turn=False)
            batch.extend(more)
            if not more:
                stop.wait(0.05)
        self._deliver(batch)
        return len(batch)

    def _receive(
        self, count: int, wait_seconds: int, stop: threading.Event, *, wait_for_turn: bool = True
    ) -> list["MessageTypeDef"]:
        """Up to ``count`` messages; none once ``stop`` is set, or when it is not this poller's
        turn and ``wait_for_turn`` is false."""
        if not self._sqs_turns.take(stop, wait=wait_for_turn):
            return []
        try:
            if stop.is_set():
                return []
            response = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=min(count, 10),
                WaitTimeSeconds=wait_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        finally:
            self._sqs_turns.give_back()
        return list(response.get("Messages", []))

    def _deliver(self, batch: list["MessageTypeDef"]) -> None:
        invocation = self._worker.invoke({"Records": [_sqs_record(m, self._queue_arn) for m in batch]})
        ids = {m["MessageId"] for m in batch}
        failed = failed_message_ids(invocation, ids, self._report_failures)
        done = [m for m in batch if m["MessageId"] not in failed]
        self._sqs_turns.take()  # even once stopping: what was delivered is deleted
        try:
            for start in range(0, len(done), 10):
                self._sqs.delete_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done[start : start + 10])
                    ],
                )
            for message in batch:
                if message["MessageId"] in failed:
                    self._sqs.change_message_visibility(
                        QueueUrl=self._queue_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=self._retry_delay,
                    )
        finally:
            self._sqs_turns.give_back()
        outcome = (
            ""
            if invocation.ok
            else f" (function error: {invocation.error and invocation.error.get('errorType')})"
        )
        _log(f"{self._worker.spec.logical_id}: batch of {len(batch)}, {len(failed)} to retry{outcome}")
