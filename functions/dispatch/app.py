"""The dispatcher: SQS batches of ``{org_id, id}``, each message claimed and handed to its carrier.

Partial batch failures are reported (Powertools batch utility): a record whose carrier refused
with a retryable error goes back to the queue; every other record is done, whatever its outcome.
"""

import json
from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, ValidationError

from agentmessage.composition.dispatching import carrier_for, dispatch_policy
from agentmessage.composition.settings import DispatchSettings, load
from agentmessage.composition.storage import message_repository
from agentmessage.domain import clock
from agentmessage.domain.dispatch import Outcome, dispatch_message, no_time_limit
from agentmessage.integration.time_budget import PIPELINE, RECORD_RESERVE
from agentmessage.observability import MetricUnit, logger, metrics

load(DispatchSettings)  # at init: a bad environment fails the cold start, not every record
# A batch whose every record is retried (one throttled message, say) is still an answer, not an
# error: report each record in batchItemFailures rather than fail the whole invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class DispatchRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    org_id: str
    id: str


class RetryLater(Exception):
    """The carrier refused for now; the record goes back to the queue."""


def handle_record(record: SQSRecord, lambda_context: LambdaContext | None = None) -> Outcome:
    time_left = no_time_limit
    if lambda_context is not None:
        time_left = partial(_seconds_left, lambda_context)
    if time_left() < RECORD_RESERVE:
        # Too little time left to claim, send and record: a send cut off by the timeout would
        # stay 'sending' until its lease fails it. Unclaimed, the record is simply redelivered.
        raise RetryLater("not started: the invocation is about to time out")
    try:
        request = DispatchRequest.model_validate(json.loads(record.body))
    except (ValueError, ValidationError):
        # Not a dispatch request: retrying cannot help, and nothing was accepted under it.
        logger.error("malformed dispatch record dropped", extra={"sqs_message_id": record.message_id})
        metrics.add_metric(name="MalformedDispatchRecords", unit=MetricUnit.Count, value=1)
        return Outcome.SKIPPED
    settings = load(DispatchSettings)
    outcome = dispatch_message(
        request.org_id,
        request.id,
        repository=message_repository(settings.messages_table, PIPELINE),
        carrier_for=partial(carrier_for, settings),
        policy=dispatch_policy(settings),
        now=clock.utc_now,
        time_left=time_left,
    )
    if outcome is Outcome.RETRY:
        raise RetryLater(request.id)
    return outcome


def _seconds_left(context: LambdaContext) -> float:
    return context.get_remaining_time_in_millis() / 1000


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=handle_record, processor=processor, context=context
        )
    )
