"""The dispatch queue as the tests drive it, and AWS calls made to fail as a lost network would."""

from typing import Any

from botocore.exceptions import EndpointConnectionError

from agentmessage.integration import aws_clients
from tests.support.dynamo_calls import every_call_limits


def drain(sqs: Any, queue_url: str) -> list[str]:
    """Every body on the queue, received and deleted, as the SQS event source mapping would."""
    bodies: list[str] = []
    while messages := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30
    ).get("Messages", []):
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def lose(service: str, operation: str) -> None:
    """Make every ``operation`` call of the functions' cached clients (whatever their call limits)
    fail, as if the network dropped it."""
    for limits in every_call_limits():
        client = getattr(aws_clients, service)(limits)

        def unreachable(endpoint: str = client.meta.endpoint_url, **_: Any) -> None:
            raise EndpointConnectionError(endpoint_url=endpoint)

        client.meta.events.register(
            f"before-call.{client.meta.service_model.endpoint_prefix}.{operation}", unreachable
        )
