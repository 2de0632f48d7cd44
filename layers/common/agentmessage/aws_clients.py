"""boto3 clients, made once per container (the import and the client cost most of a cold start).

Each function asks only for the clients it uses. ``AWS_ENDPOINT_URL`` (boto3's own setting)
points them at the local stack or any AWS-compatible endpoint.
"""

from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_pinpoint_sms_voice_v2 import PinpointSMSVoiceV2Client
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_sqs import SQSClient

    from agentmessage.carriers.media import MediaStore

# Short timeouts: a request waits for one AWS call at a time, and API Gateway gives up at 29 s.
# Standard retries back off on throttling before the error reaches the caller as a 503.
_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
    tcp_keepalive=True,
)

# Staging's S3 put: one attempt, with the same short timeouts (7 s at worst). A failed put is
# retryable and the dispatcher releases the message to try again later (the put is idempotent),
# so botocore's own retries would only spend the time the send after it needs.
_S3_CONFIG = _CONFIG.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))


@cache
def dynamodb() -> "DynamoDBClient":
    return boto3.client("dynamodb", config=_CONFIG)


@cache
def sqs() -> "SQSClient":
    return boto3.client("sqs", config=_CONFIG)


@cache
def scheduler() -> "EventBridgeSchedulerClient":
    return boto3.client("scheduler", config=_CONFIG)


@cache
def sms_voice() -> "PinpointSMSVoiceV2Client":
    # One attempt in all: a timed-out send may have gone out, so botocore must never resend it.
    from agentmessage.carriers.aws import CLIENT_CONFIG  # only the dispatcher pays for this import

    return boto3.client("pinpoint-sms-voice-v2", config=CLIENT_CONFIG)


@cache
def s3() -> "MediaStore":
    # Only the dispatcher stages MMS media.
    client: MediaStore = boto3.client("s3", config=_S3_CONFIG)
    return client
