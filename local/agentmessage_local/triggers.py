"""What invokes functions besides the gateway, as AWS would: each runs in its own thread.

- ``QueueEventSource``: an SQS event source mapping. It receives up to ``BatchSize`` messages,
  waiting up to ``MaximumBatchingWindowInSeconds`` to fill a batch, invokes the function, and
  deletes every record not listed in ``batchItemFailures`` (all of them when the function
  failed or answered an invalid list). Failed records become visible again after
  ``retry_delay_seconds`` rather than the queue's visibility timeout, so retries happen locally
  in seconds; the queue's redrive policy still moves a record to its dead-letter queue.
- ``OneTimeSchedules``: EventBridge Scheduler for the project's schedule groups. Each enabled
  ``at(...)`` schedule whose time has come, by the stack's clock, has its ``Target.Input`` sent to
  its target queue, and is deleted when ``ActionAfterCompletion`` is ``DELETE``.
- ``RateSchedule``: a function's ``Schedule``/``ScheduleV2`` event with a ``rate(...)``
  expression, invoked with a scheduled event every period.
"""

import base64
import contextlib
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError

from agentmessage_local.resources import ACCOUNT, REGION
from agentmessage_local.stack_clock import StackClock
from agentmessage_local.workers import Invocation, Invoker

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

RETRY_DELAY_SECONDS = 2
SCHEDULE_POLL_SECONDS = 1.0
_LONG_POLL_SECONDS = 1  # how long a receive may wait: also how fast the poller notices a stop


def _log(text: str) -> None:
    print(f"triggers: {text}", file=sys.stderr, flush=True)


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
    ) -> None:
        self._sqs = sqs
        self._worker = worker
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._batch_size = batch_size
        self._window = batching_window_seconds
        self._report_failures = report_batch_item_failures
        self._retry_delay = retry_delay_seconds

    def run(self, stop: threading.Event) -> None:
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
        batch = self._receive(self._batch_size, _LONG_POLL_SECONDS)
        if not batch:
            return 0
        window_ends = time.monotonic() + self._window
        while len(batch) < self._batch_size and time.monotonic() < window_ends and not stop.is_set():
            more = self._receive(self._batch_size - len(batch), 0)
            batch.extend(more)
            if not more:
                stop.wait(0.05)
        self._deliver(batch)
        return len(batch)

    def _receive(self, count: int, wait_seconds: int) -> list["MessageTypeDef"]:
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(count, 10),
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _deliver(self, batch: list["MessageTypeDef"]) -> None:
        invocation = self._worker.invoke({"Records": [_sqs_record(m, self._queue_arn) for m in batch]})
        ids = {m["MessageId"] for m in batch}
        failed = failed_message_ids(invocation, ids, self._report_failures)
        done = [m for m in batch if m["MessageId"] not in failed]
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
        outcome = (
            ""
            if invocation.ok
            else f" (function error: {invocation.error and invocation.error.get('errorType')})"
        )
        _log(f"{self._worker.spec.logical_id}: batch of {len(batch)}, {len(failed)} to retry{outcome}")


_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")


def at_time(expression: str, timezone: str | None) -> datetime | None:
    """When a one-time ``at(...)`` expression fires; ``None`` for rate() and cron()."""
    found = _AT.match(expression.strip())
    if found is None:
        return None
    local = datetime.fromisoformat(found.group(1))
    return local.replace(tzinfo=ZoneInfo(timezone) if timezone else UTC).astimezone(UTC)


class OneTimeSchedules:
    def __init__(
        self,
        *,
        scheduler: "EventBridgeSchedulerClient",
        sqs: "SQSClient",
        groups: list[str],
        queue_urls: Mapping[str, str],
        clock: StackClock,
    ) -> None:
        self._scheduler = scheduler
        self._sqs = sqs
        self._groups = groups
        self._queue_urls = dict(queue_urls)  # by queue ARN
        self._clock = clock
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], tuple[str, datetime]] = {}  # (version, due) by (group, name)
        self._done: set[tuple[str, str]] = set()  # fired and kept, or never to fire locally

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(SCHEDULE_POLL_SECONDS):
            try:
                self.fire_due()
            except Exception as exc:  # try again at the next tick
                if not stop.is_set():
                    _log(f"schedules: {type(exc).__name__}: {exc}")

    def fire_due(self) -> list[str]:
        """Fire every due schedule once; the names of those fired."""
        with self._lock:
            fired = []
            now = self._clock.now()
            for group in self._groups:
                paginator = self._scheduler.get_paginator("list_schedules")
                for page in paginator.paginate(GroupName=group, State="ENABLED"):
                    for summary in page.get("Schedules", []):
                        name = summary.get("Name", "")
                        version = str(summary.get("LastModificationDate", ""))
                        if (group, name) in self._done or not self._due(group, name, version, now):
                            continue
                        if self._fire(group, name):
                            fired.append(name)
            return fired

    def _due(self, group: str, name: str, version: str, now: datetime) -> bool:
        """Whether the schedule's time has come; its details are read once per version."""
        known = self._known.get((group, name))
        if known is None or known[0] != version:
            try:
                schedule = self._scheduler.get_schedule(GroupName=group, Name=name)
            except ClientError:
                return False  # deleted meanwhile
            due = at_time(schedule["ScheduleExpression"], schedule.get("ScheduleExpressionTimezone"))
            if due is None:
                _log(f"schedule {group}/{name}: only at(...) expressions fire locally")
                self._done.add((group, name))
                return False
            known = (version, due)
            self._known[(group, name)] = known
        return known[1] <= now

    def _fire(self, group: str, name: str) -> bool:
        try:
            schedule = self._scheduler.get_schedule(GroupName=group, Name=name)
        except ClientError:
            return False  # deleted meanwhile (a cancel)
        target = schedule["Target"]
        queue_url = self._queue_urls.get(target["Arn"])
        if queue_url is None:
            self._done.add((group, name))
            _log(f"schedule {group}/{name}: target {target['Arn']} is not one of the stack's queues")
            return False
        self._sqs.send_message(QueueUrl=queue_url, MessageBody=target.get("Input") or "{}")
        self._known.pop((group, name), None)
        if schedule.get("ActionAfterCompletion") == "DELETE":
            with contextlib.suppress(ClientError):  # already gone is fine
                self._scheduler.delete_schedule(GroupName=group, Name=name)
        else:
            self._done.add((group, name))  # a completed one-time schedule stays, but never fires again
        _log(f"schedule {group}/{name} fired")
        return True


_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int | None:
    found = _RATE.match(expression.strip())
    if found is None:
        return None
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2).rstrip("s")]


class RateSchedule:
    def __init__(
        self,
        *,
        worker: Invoker,
        interval_seconds: int,
        name: str,
        source: str,
        clock: StackClock,
    ) -> None:
        self._worker = worker
        self.interval_seconds = interval_seconds
        self.name = name
        self._source = source  # aws.scheduler (ScheduleV2) or aws.events (Schedule)
        self._clock = clock

    def event(self) -> dict[str, Any]:
        kind = "schedule/default" if self._source == "aws.scheduler" else "rule"
        service = "scheduler" if self._source == "aws.scheduler" else "events"
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": self._source,
            "account": ACCOUNT,
            "time": self._clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [f"arn:aws:{service}:{REGION}:{ACCOUNT}:{kind}/{self.name}"],
            "detail": {},
        }

    def fire(self) -> Invocation:
        invocation = self._worker.invoke(self.event())
        outcome = json.dumps(invocation.payload(), separators=(",", ":"))
        _log(f"{self._worker.spec.logical_id}: {'ran' if invocation.ok else 'failed'}: {outcome}")
        return invocation

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval_seconds):
            self.fire()
