"""The receipt function: SQS batches of AWS End User Messaging's event records (from the receipts
topic, delivered raw), each applied to its message with one conditional write.

Partial batch failures are reported (Powertools batch utility): a receipt that arrived before its
send was recorded goes back to the queue, to be applied later; every other record is done: applied,
changing nothing (a duplicate, a receipt on the way), or dropped (not a receipt of ours).
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from agentmessage.carriers.receipt_events import NotAReceipt, read_receipt
from agentmessage.composition.settings import ReceiptSettings, load
from agentmessage.composition.storage import message_repository
from agentmessage.domain.receipts import Applied, apply_receipt
from agentmessage.integration.time_budget import PIPELINE
from agentmessage.observability import MetricUnit, logger, metrics

load(ReceiptSettings)  # at init: a bad environment fails the cold start, not every record
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class NotYetSent(Exception):
    """The receipt's message is not recorded as sent yet: the record goes back to the queue."""


def handle_record(record: SQSRecord) -> Applied:
    try:
        receipt = read_receipt(record.body)
    except NotAReceipt as exc:
        # Logged without the record: it holds phone numbers
        logger.warning(
            "dropped an event record", extra={"reason": str(exc), "sqs_message_id": record.message_id}
        )
        metrics.add_metric(name="ReceiptsDropped", unit=MetricUnit.Count, value=1)
        return Applied.UNKNOWN_MESSAGE
    applied = apply_receipt(
        receipt, repository=message_repository(load(ReceiptSettings).messages_table, PIPELINE)
    )
    if applied is Applied.RETRY:
        raise NotYetSent(receipt.message_id)
    return applied


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=handle_record, processor=processor, context=context
        )
    )
