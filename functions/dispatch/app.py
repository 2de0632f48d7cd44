"""The dispatcher: SQS batches of ``{org_id, id}``, each message claimed and handed to its carrier.

Partial batch failures are reported (Powertools batch utility): a record whose carrier refused
with a retryable error goes back to the queue; every other record is done, whatever its outcome.
"""

import json
import math
from datetime import timedelta
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, ValidationError

from agentmessage import aws_clients, clock
from agentmessage.carriers.base import Carrier
from agentmessage.carriers.sandbox import SandboxCarrier
from agentmessage.dispatching import DispatchPolicy, Outcome, Pricing, dispatch_message
from agentmessage.dynamo_messages import DynamoMessageRepository
from agentmessage.model import Mode
from agentmessage.observability import MetricUnit, logger, metrics
from agentmessage.repository import MessageRepository
from agentmessage.settings import DispatchSettings, load

# A batch whose every record is retried (one throttled message, say) is still an answer, not an
# error: report each record in batchItemFailures rather than fail the whole invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


# A record is started only with this much of the invocation left (the function's Timeout is 60 s):
# enough for a live MMS's media fetch (10 s, 15 s at worst) and its S3 put, then the send itself
# with its record. In the worst case it is not: the live carrier then starts the send only with
# its own SEND_RESERVE (20 s) left, and otherwise releases the message to be tried again.
TIME_RESERVE_MS = 35_000

# The invocation whose record is being handled: the live carrier is made once per container, the
# time it has left is the current invocation's.
_invocation: LambdaContext | None = None


def _time_left() -> float:
    """Seconds left in the current invocation; no limit outside one."""
    context = _invocation
    return math.inf if context is None else context.get_remaining_time_in_millis() / 1000


class DispatchRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    org_id: str
    id: str


class RetryLater(Exception):
    """The carrier refused for now; the record goes back to the queue."""


@cache
def _sandbox() -> SandboxCarrier:
    return SandboxCarrier()


@cache
def _live() -> Carrier:
    from agentmessage.carriers.aws import EndUserMessagingCarrier
    from agentmessage.carriers.media import MediaStager

    settings = load(DispatchSettings)
    return EndUserMessagingCarrier(
        client=aws_clients.sms_voice(),
        origination_identity=settings.origination_identity or None,
        configuration_set_name=settings.configuration_set_name or None,
        # The S3 client is made at the first MMS: a container that only sends SMS never pays for it.
        stage_media=lambda message: MediaStager(aws_clients.s3(), settings.media_bucket).stage(message),
        time_left=_time_left,
    )


def carrier_for(mode: Mode) -> Carrier:
    """Test keys never leave the system: their messages go to the sandbox carrier."""
    return _live() if mode is Mode.LIVE else _sandbox()


@cache
def _policy() -> DispatchPolicy:

    settings = load(DispatchSettings)
    return DispatchPolicy(
        lease=timedelta(seconds=settings.sending_lease_seconds),
        max_attempts=settings.max_send_attempts,
        pricing=Pricing(settings.sms_price_per_part, settings.mms_price_per_part),
    )


def _repository() -> MessageRepository:
    return DynamoMessageRepository(aws_clients.dynamodb(), load(DispatchSettings).messages_table)


def handle_record(record: SQSRecord, lambda_context: LambdaContext | None = None) -> Outcome:
    global _invocation  # one record at a time, and reset after each
    _invocation = lambda_context
    try:
        return _handle_record(record, lambda_context)
    finally:
        _invocation = None


def _handle_record(record: SQSRecord, lambda_context: LambdaContext | None) -> Outcome:
    if lambda_context is not None and lambda_context.get_remaining_time_in_millis() < TIME_RESERVE_MS:
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
    outcome = dispatch_message(
        request.org_id,
        request.id,
        repository=_repository(),
        carrier_for=carrier_for,
        policy=_policy(),
        now=clock.utc_now,
    )
    if outcome is Outcome.RETRY:
        raise RetryLater(request.id)
    return outcome


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=handle_record, processor=processor, context=context
        )
    )
