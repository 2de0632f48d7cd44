"""Dispatch triggers on AWS: an SQS queue and EventBridge Scheduler one-time schedules."""

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from agentmessage.domain.errors import Unavailable

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_sqs import SQSClient


def dispatch_body(org_id: str, message_id: str) -> str:
    return json.dumps({"org_id": org_id, "id": message_id}, separators=(",", ":"))


def at_expression(moment: datetime) -> str:
    """``at(yyyy-mm-ddThh:mm:ss)`` in UTC, rounded up: a schedule may not fire before its time."""
    moment = moment.astimezone(UTC)
    whole = moment.replace(microsecond=0)
    if whole < moment:
        whole += timedelta(seconds=1)
    return f"at({whole.strftime('%Y-%m-%dT%H:%M:%S')})"


class QueueTrigger:
    def __init__(self, client: "SQSClient", queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def enqueue(self, org_id: str, message_id: str) -> None:
        try:
            self._client.send_message(QueueUrl=self._queue_url, MessageBody=dispatch_body(org_id, message_id))
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable() from exc

    def enqueue_many(self, entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Enqueue up to ten messages in one call; returns those the queue took (SQS names each)."""
        if not entries:
            return []
        try:
            response = self._client.send_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(index), "MessageBody": dispatch_body(org_id, message_id)}
                    for index, (org_id, message_id) in enumerate(entries)
                ],
            )
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable() from exc
        return [entries[int(done["Id"])] for done in response.get("Successful", [])]

    def backlog(self) -> int:
        """The queue's ApproximateNumberOfMessages: messages waiting, not yet received."""
        try:
            response = self._client.get_queue_attributes(
                QueueUrl=self._queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable() from exc
        try:
            return int(response.get("Attributes", {}).get("ApproximateNumberOfMessages", "0"))
        except ValueError as exc:
            raise Unavailable() from exc


class AwsDispatchTriggers(QueueTrigger):
    def __init__(
        self,
        sqs: "SQSClient",
        scheduler: "EventBridgeSchedulerClient",
        *,
        queue_url: str,
        queue_arn: str,
        group: str,
        role_arn: str,
        dead_letter_arn: str,
    ) -> None:
        super().__init__(sqs, queue_url)
        self._scheduler = scheduler
        self._queue_arn = queue_arn
        self._group = group
        self._role_arn = role_arn
        self._dead_letter_arn = dead_letter_arn

    def schedule(self, org_id: str, message_id: str, at: datetime) -> None:
        try:
            self._scheduler.create_schedule(
                Name=message_id,
                GroupName=self._group,
                ScheduleExpression=at_expression(at),
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                ClientToken=message_id,
                Target={
                    "Arn": self._queue_arn,
                    "RoleArn": self._role_arn,
                    "Input": dispatch_body(org_id, message_id),
                    "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 20},
                    "DeadLetterConfig": {"Arn": self._dead_letter_arn},
                },
            )
        except ClientError as exc:
            # The schedule is named after the message: one that exists is this message's (a retry).
            if exc.response.get("Error", {}).get("Code") != "ConflictException":
                raise Unavailable() from exc
        except BotoCoreError as exc:
            raise Unavailable() from exc


class ScheduleRemover:
    def __init__(self, scheduler: "EventBridgeSchedulerClient", group: str) -> None:
        self._scheduler = scheduler
        self._group = group

    def unschedule(self, message_id: str) -> None:
        try:
            self._scheduler.delete_schedule(Name=message_id, GroupName=self._group)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise Unavailable() from exc
        except BotoCoreError as exc:
            raise Unavailable() from exc
