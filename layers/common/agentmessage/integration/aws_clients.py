"""boto3 clients, made once per container (the import and the client cost most of a cold start).

Each function asks only for the clients it uses, with the call limits of its path
(``integration.time_budget``); one client is kept per service and limits. ``AWS_ENDPOINT_URL``
(boto3's own setting) points them at the local stack or any AWS-compatible endpoint.
"""

import threading
from typing import TYPE_CHECKING, Any

import boto3

from agentmessage.integration.time_budget import CARRIER, MEDIA_PUT, CallLimits

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_pinpoint_sms_voice_v2 import PinpointSMSVoiceV2Client
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_sqs import SQSClient

    from agentmessage.carriers.media import MediaStore
    from agentmessage.integration.receipts_topic import TopicClient

_made: dict[tuple[str, CallLimits], Any] = {}
# boto3's default session is not safe to make clients from in several threads at once.
_lock = threading.Lock()


def _client(service: str, limits: CallLimits) -> Any:
    key = (service, limits)
    client = _made.get(key)
    if client is None:
        with _lock:
            client = _made.get(key)
            if client is None:
                client = _made[key] = boto3.client(service, config=limits.config)  # type: ignore[call-overload]
    return client


def dynamodb(limits: CallLimits) -> "DynamoDBClient":
    client: DynamoDBClient = _client("dynamodb", limits)
    return client


def sqs(limits: CallLimits) -> "SQSClient":
    client: SQSClient = _client("sqs", limits)
    return client


def scheduler(limits: CallLimits) -> "EventBridgeSchedulerClient":
    client: EventBridgeSchedulerClient = _client("scheduler", limits)
    return client


def sns(limits: CallLimits) -> "TopicClient":
    client: TopicClient = _client("sns", limits)
    return client


def sms_voice() -> "PinpointSMSVoiceV2Client":
    client: PinpointSMSVoiceV2Client = _client("pinpoint-sms-voice-v2", CARRIER)
    return client


def s3() -> "MediaStore":
    # Only the dispatcher stages MMS media, at its first MMS.
    client: MediaStore = _client("s3", MEDIA_PUT)
    return client


def made() -> list[tuple[str, CallLimits]]:
    """The clients this container has made: (service, limits), in the order they were made."""
    return list(_made)


def clear() -> None:
    """Forget every client (tests: a new container)."""
    with _lock:
        _made.clear()
