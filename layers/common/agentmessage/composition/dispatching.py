"""Cached factories for the pipeline: the carriers by mode, the dispatch policy, the requeue trigger."""

from datetime import timedelta

from agentmessage.carriers.base import Carrier
from agentmessage.carriers.sandbox import SandboxCarrier
from agentmessage.composition.cached import cached
from agentmessage.composition.settings import DispatchSettings
from agentmessage.domain.dispatch import DispatchPolicy, Pricing
from agentmessage.domain.message import Mode
from agentmessage.integration import aws_clients
from agentmessage.integration.dispatch_triggers import QueueTrigger
from agentmessage.integration.time_budget import PIPELINE, CallLimits


@cached
def sandbox_carrier(receipts_topic_arn: str) -> SandboxCarrier:
    from agentmessage.integration.receipts_topic import TopicPublisher

    return SandboxCarrier(TopicPublisher(aws_clients.sns(PIPELINE), receipts_topic_arn))


@cached
def live_carrier(settings: DispatchSettings) -> Carrier:
    # Only a live send pays for these imports: a container that only sends test messages never does.
    from agentmessage.carriers.end_user_messaging import EndUserMessagingCarrier
    from agentmessage.carriers.media import MediaStager

    return EndUserMessagingCarrier(
        client=aws_clients.sms_voice(),
        origination_identity=settings.origination_identity or None,
        configuration_set_name=settings.configuration_set_name or None,
        # The S3 client is made at the first MMS: a container that only sends SMS never pays for it.
        stage_media=lambda message: MediaStager(aws_clients.s3(), settings.media_bucket).stage(message),
    )


def carrier_for(settings: DispatchSettings, mode: Mode) -> Carrier:
    """Test keys never leave the system: their messages go to the sandbox carrier."""
    return live_carrier(settings) if mode is Mode.LIVE else sandbox_carrier(settings.receipts_topic_arn)


@cached
def dispatch_policy(settings: DispatchSettings) -> DispatchPolicy:
    return DispatchPolicy(
        lease=timedelta(seconds=settings.sending_lease_seconds),
        max_attempts=settings.max_send_attempts,
        pricing=Pricing(settings.sms_price_per_part, settings.mms_price_per_part),
    )


@cached
def requeue(queue_url: str, limits: CallLimits) -> QueueTrigger:
    return QueueTrigger(aws_clients.sqs(limits), queue_url)


def clear() -> None:
    sandbox_carrier.cache_clear()
    live_carrier.cache_clear()
    dispatch_policy.cache_clear()
    requeue.cache_clear()
