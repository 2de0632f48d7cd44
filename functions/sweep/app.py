"""The sweeper, run every minute by an EventBridge schedule: recovers lost enqueues and schedules,
expires stale messages, fails sends stuck past their lease."""

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agentmessage import aws_clients, clock
from agentmessage.aws_triggers import QueueTrigger
from agentmessage.dynamo_messages import DynamoMessageRepository
from agentmessage.observability import logger, metrics
from agentmessage.settings import SweepSettings, load
from agentmessage.sweeping import sweep


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(SweepSettings)
    report = sweep(
        repository=DynamoMessageRepository(
            aws_clients.dynamodb(), settings.messages_table, settings.due_shards
        ),
        requeue=QueueTrigger(aws_clients.sqs(), settings.dispatch_queue_url),
        now=clock.utc_now(),
        shards=settings.due_shards,
        page_size=settings.page_size,
        max_pages=settings.max_pages,
    )
    return asdict(report)
