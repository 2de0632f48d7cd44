"""The sweeper, run every minute by an EventBridge schedule: recovers lost enqueues and schedules,
expires stale messages, fails sends stuck past their lease."""

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from agentmessage.composition.dispatching import requeue
from agentmessage.composition.settings import SweepSettings, load
from agentmessage.composition.storage import message_repository
from agentmessage.domain import clock
from agentmessage.domain.sweep import sweep
from agentmessage.integration.time_budget import PIPELINE, SWEEP_STEP_RESERVE
from agentmessage.observability import logger, metrics

load(SweepSettings)  # at init: a bad environment fails the cold start, not every run


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load(SweepSettings)
    report = sweep(
        repository=message_repository(settings.messages_table, PIPELINE, settings.due_shards),
        requeue=requeue(settings.dispatch_queue_url, PIPELINE),
        now=clock.utc_now(),
        shards=settings.due_shards,
        page_size=settings.page_size,
        max_pages=settings.max_pages,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
        step_reserve=SWEEP_STEP_RESERVE,
    )
    return asdict(report)
