"""The receipts topic (SNS), where the sandbox carrier publishes its receipts as End User Messaging
publishes its own: each event record one SNS message, delivered raw to the receipts queue."""

import json
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from agentmessage.domain.errors import Unavailable

_BATCH = 10  # PublishBatch's most entries per call


class TopicClient(Protocol):
    """The one SNS call the publisher makes (a boto3 SNS client)."""

    def publish_batch(self, *, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]) -> Any: ...


class TopicPublisher:
    def __init__(self, client: TopicClient, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, records: list[dict[str, Any]]) -> None:
        """Publish each record, in order; ``Unavailable`` when the topic takes any of them not."""
        for start in range(0, len(records), _BATCH):
            entries = [
                {"Id": str(index), "Message": json.dumps(record, separators=(",", ":"))}
                for index, record in enumerate(records[start : start + _BATCH])
            ]
            try:
                response = self._client.publish_batch(
                    TopicArn=self._topic_arn, PublishBatchRequestEntries=entries
                )
            except (ClientError, BotoCoreError) as exc:
                raise Unavailable() from exc
            if response.get("Failed"):
                raise Unavailable("the receipts topic refused a receipt")
