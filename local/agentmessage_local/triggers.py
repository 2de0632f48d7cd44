"""The schedules, as AWS runs them, each in its own thread (the SQS event sources, the other
triggers, are ``sqs_event_source``'s).

- ``OneTimeSchedules``: EventBridge Scheduler for the project's schedule groups. Each enabled
  ``at(...)`` schedule whose time has come, by the stack's clock, has its ``Target.Input`` sent to
  its target queue, and is deleted when ``ActionAfterCompletion`` is ``DELETE``.
- ``RateSchedule``: a function's ``Schedule``/``ScheduleV2`` event with a ``rate(...)``
  expression, invoked with a scheduled event every period.
"""

import contextlib
import json
import re
import sys
import threading
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

SCHEDULE_POLL_SECONDS = 1.0


def _log(text: str) -> None:
    print(f"triggers: {text}", file=sys.stderr, flush=True)


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
