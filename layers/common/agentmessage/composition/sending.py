"""Cached factories for the send and cancel functions: dispatch triggers, schedules, idempotency."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentmessage.composition.cached import cached
from agentmessage.composition.settings import SendSettings
from agentmessage.integration import aws_clients
from agentmessage.integration.dispatch_triggers import AwsDispatchTriggers, ScheduleRemover
from agentmessage.integration.time_budget import CallLimits

if TYPE_CHECKING:
    from agentmessage.api.idempotency import Idempotent


@cached
def send_triggers(settings: SendSettings, limits: CallLimits) -> AwsDispatchTriggers:
    return AwsDispatchTriggers(
        aws_clients.sqs(limits),
        aws_clients.scheduler(limits),
        queue_url=settings.dispatch_queue_url,
        queue_arn=settings.dispatch_queue_arn,
        group=settings.schedule_group,
        role_arn=settings.scheduler_role_arn,
        dead_letter_arn=settings.schedule_dlq_arn,
    )


@cached
def schedule_remover(group: str, limits: CallLimits) -> ScheduleRemover:
    return ScheduleRemover(aws_clients.scheduler(limits), group)


@cached
def idempotent(table: str, limits: CallLimits, operation: Callable[..., dict[str, Any]]) -> "Idempotent":
    # Powertools idempotency: imported by the send function alone, never by cancel.
    from agentmessage.api.idempotency import Idempotent

    return Idempotent(aws_clients.dynamodb(limits), table, operation)


def clear() -> None:
    send_triggers.cache_clear()
    schedule_remover.cache_clear()
    idempotent.cache_clear()
