"""Each function's environment as a model: validated once per container, then cached.

The names are those ``infra/template.yaml`` sets; a missing or malformed variable fails the
cold start loudly rather than a request later.
"""

import os
from decimal import Decimal
from functools import cache

from pydantic import BaseModel, ConfigDict, Field


class _Env(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class AuthorizerSettings(_Env):
    api_keys_table: str = Field(alias="API_KEYS_TABLE", min_length=1)


class ReadSettings(_Env):
    messages_table: str = Field(alias="MESSAGES_TABLE", min_length=1)


class CancelSettings(ReadSettings):
    schedule_group: str = Field(alias="SCHEDULE_GROUP", min_length=1)


class SendSettings(CancelSettings):
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=1)
    dispatch_queue_url: str = Field(alias="DISPATCH_QUEUE_URL", min_length=1)
    dispatch_queue_arn: str = Field(alias="DISPATCH_QUEUE_ARN", min_length=1)
    scheduler_role_arn: str = Field(alias="SCHEDULER_ROLE_ARN", min_length=1)
    schedule_dlq_arn: str = Field(alias="SCHEDULE_DLQ_ARN", min_length=1)
    due_shards: int = Field(alias="SWEEP_SHARDS", default=4, ge=1, le=64)


class DispatchSettings(ReadSettings):
    sms_price_per_part: Decimal = Field(alias="SMS_PRICE_PER_PART", ge=0)
    mms_price_per_part: Decimal = Field(alias="MMS_PRICE_PER_PART", ge=0)
    origination_identity: str = Field(alias="ORIGINATION_IDENTITY", default="")
    configuration_set_name: str = Field(alias="CONFIGURATION_SET_NAME", default="")
    sending_lease_seconds: int = Field(alias="SENDING_LEASE_SECONDS", default=300, ge=10)
    max_send_attempts: int = Field(alias="MAX_SEND_ATTEMPTS", default=5, ge=1)
    # Where a live MMS's media is staged for SendMediaMessage (which reads only s3:// URLs).
    media_bucket: str = Field(alias="MEDIA_BUCKET", min_length=3, max_length=63)
    # Where the sandbox publishes its receipts, as End User Messaging publishes a live send's.
    receipts_topic_arn: str = Field(alias="RECEIPTS_TOPIC_ARN", min_length=1)


class ReceiptSettings(ReadSettings):
    pass


class SweepSettings(ReadSettings):
    dispatch_queue_url: str = Field(alias="DISPATCH_QUEUE_URL", min_length=1)
    due_shards: int = Field(alias="SWEEP_SHARDS", default=4, ge=1, le=64)
    page_size: int = Field(alias="SWEEP_PAGE_SIZE", default=100, ge=1, le=1000)
    max_pages: int = Field(alias="SWEEP_MAX_PAGES", default=10, ge=1)


@cache
def load[T: _Env](model: type[T]) -> T:
    # Only the model's own variables: a validation error must never echo the rest of the
    # environment (the runtime's credentials among them) into a log.
    names = {field.alias or name for name, field in model.model_fields.items()}
    return model.model_validate({name: os.environ[name] for name in names if name in os.environ})
