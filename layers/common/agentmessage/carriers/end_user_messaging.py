"""AWS End User Messaging SMS (``pinpoint-sms-voice-v2``) behind the carrier interface.

The client is injected, made with ``integration.time_budget.CARRIER``: botocore's own retries
resend a request after a read timeout or a dropped connection, when the carrier may already have
accepted the message, so they are turned off and the dispatcher decides what to retry.

SendMediaMessage takes one ``s3://`` URL of an object in this account and Region, while the API
accepts https URLs: an MMS's media is staged first by the injected ``stage_media``
(``carriers.media.MediaStager.stage``), before the send call, so a staging failure sends nothing.

The dangerous cut is between AWS accepting a message and the dispatcher recording it: a send is
started only with ``SEND_RESERVE`` seconds left in the invocation (the ``time_left`` the dispatcher
hands each send), checked after staging, right before the call; with less, nothing is sent and it
is retried.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Final

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
    ProxyConnectionError,
    ReadTimeoutError,
)

from agentmessage.carriers.base import (
    CarrierError,
    OutboundMessage,
    PermanentCarrierError,
    RetryableCarrierError,
    SendResult,
    TimeLeft,
    no_time_limit,
)
from agentmessage.domain.rules import LIVE_MEDIA_LIMIT
from agentmessage.integration.time_budget import SEND_RESERVE

if TYPE_CHECKING:
    from mypy_boto3_pinpoint_sms_voice_v2 import PinpointSMSVoiceV2Client
    from mypy_boto3_pinpoint_sms_voice_v2.type_defs import (
        SendMediaMessageRequestTypeDef,
        SendTextMessageRequestTypeDef,
    )

# ValidationException reasons that concern the destination number rather than the request.
DESTINATION_VALIDATION_REASONS: Final = frozenset(
    {
        "CANNOT_PARSE",
        "COUNTRY_CODE_MISMATCH",
        "COUNTRY_NOT_ENABLED",
        "DESTINATION_COUNTRY_BLOCKED",
        "INTERNATIONAL_SENDING_NOT_SUPPORTED",
        "INVALID_IDENTITY_FOR_DESTINATION_COUNTRY",
    }
)

# Puts an MMS's media where SendMediaMessage can read it; the s3:// URLs, or a CarrierError.
StageMedia = Callable[[OutboundMessage], Sequence[str]]

# The request never reached AWS: nothing was sent, a later try may succeed.
_NOT_SENT_TRANSPORT_ERRORS: Final = (EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError)


class EndUserMessagingCarrier:
    """Sends SMS with SendTextMessage and MMS with SendMediaMessage.

    AWS accepts the message and reports delivery later through the configuration set's event
    destination, so a successful send is ``sent``, never ``delivered``.
    """

    name: str = "aws-end-user-messaging"

    def __init__(
        self,
        client: "PinpointSMSVoiceV2Client",
        origination_identity: str | None = None,
        configuration_set_name: str | None = None,
        stage_media: StageMedia | None = None,
    ) -> None:
        self._client = client
        self._origination_identity = origination_identity
        self._configuration_set_name = configuration_set_name
        self._stage_media = stage_media

    def send(self, message: OutboundMessage, *, time_left: TimeLeft = no_time_limit) -> SendResult:
        # Before the send call: a staging failure has sent nothing, whatever it is.
        media_urls = self._staged_media(message) if message.channel == "mms" else []
        if time_left() < SEND_RESERVE:
            # Cut off after AWS accepted it, a message would stay 'sending' until its lease
            # failed it; not started, it is released and tried again.
            raise RetryableCarrierError(
                "SEND_NOT_STARTED", "too little time left in this invocation to send and record"
            )
        try:
            if message.channel == "sms":
                message_id = self._send_text(message)
            elif message.channel == "mms":
                message_id = self._send_media(message, media_urls)
            else:
                raise PermanentCarrierError("CARRIER_REJECTED", f"unsupported channel {message.channel!r}")
        except ClientError as exc:
            raise _from_client_error(exc) from exc
        except BotoCoreError as exc:
            raise _from_botocore_error(exc) from exc
        return SendResult(provider_message_id=message_id)

    def recorded(self, message: OutboundMessage, result: SendResult) -> None:
        """Nothing: AWS reports receipts through the configuration set's event destination."""

    def _send_text(self, message: OutboundMessage) -> str:
        params: SendTextMessageRequestTypeDef = {
            "DestinationPhoneNumber": message.to,
            "OriginationIdentity": self._origination_identity or message.from_,
            "MessageBody": message.text,
            "MessageType": "TRANSACTIONAL",
            "Context": _context(message),
        }
        if self._configuration_set_name:
            params["ConfigurationSetName"] = self._configuration_set_name
        return self._client.send_text_message(**params).get("MessageId", "")

    def _staged_media(self, message: OutboundMessage) -> list[str]:
        if not message.media_urls:
            return []
        if len(message.media_urls) > LIVE_MEDIA_LIMIT:
            raise PermanentCarrierError(
                "MEDIA_TOO_MANY",
                f"{len(message.media_urls)} media URLs; SendMediaMessage takes {LIVE_MEDIA_LIMIT}",
            )
        if self._stage_media is None:
            raise PermanentCarrierError("MEDIA_STAGING_REJECTED", "no media bucket is configured")
        try:
            return list(self._stage_media(message))
        except CarrierError:
            raise
        except Exception as exc:
            # Anything else is a case staging did not foresee (a URL the standard library cannot
            # request, say). Nothing has been sent, so failing is safe; retrying would fail the same
            # way. Only the type is kept: the error's text may repeat the URL, and its token.
            raise PermanentCarrierError(
                "MEDIA_STAGING_FAILED", f"{type(exc).__name__} while staging the media"
            ) from exc

    def _send_media(self, message: OutboundMessage, media_urls: list[str]) -> str:
        params: SendMediaMessageRequestTypeDef = {
            "DestinationPhoneNumber": message.to,
            "OriginationIdentity": self._origination_identity or message.from_,
            "Context": _context(message),
        }
        if media_urls:
            params["MediaUrls"] = media_urls
        if message.text:
            params["MessageBody"] = message.text
        if self._configuration_set_name:
            params["ConfigurationSetName"] = self._configuration_set_name
        return self._client.send_media_message(**params).get("MessageId", "")


def _context(message: OutboundMessage) -> dict[str, str]:
    return {"message_id": message.message_id, "org_id": message.org_id}


def _from_client_error(exc: ClientError) -> CarrierError:
    """Map an AWS error response by its code and reason; the service's free text is never used."""
    response: Mapping[str, object] = exc.response
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    reason = response.get("Reason")
    reason = reason if isinstance(reason, str) else ""
    detail = f"{code}: {reason}" if reason else code or "unknown error"

    if code == "ThrottlingException":
        return RetryableCarrierError("CARRIER_THROTTLED", detail)
    if code == "InternalServerException" or status >= 500:
        # Like a read timeout: AWS may have accepted the message before failing, so never resend.
        return PermanentCarrierError("CARRIER_OUTCOME_UNKNOWN", detail)
    if code == "ConflictException" and reason == "DESTINATION_PHONE_NUMBER_OPTED_OUT":
        return PermanentCarrierError("DESTINATION_OPTED_OUT", detail)
    if code == "ValidationException" and reason in DESTINATION_VALIDATION_REASONS:
        return PermanentCarrierError("INVALID_DESTINATION", detail)
    if code == "ServiceQuotaExceededException":
        return PermanentCarrierError("CARRIER_QUOTA_EXCEEDED", detail)
    return PermanentCarrierError("CARRIER_REJECTED", detail)


def _from_botocore_error(exc: BotoCoreError) -> CarrierError:
    """Map a client-side failure; only one that proves nothing was sent is retryable."""
    kind = type(exc).__name__
    if isinstance(exc, _NOT_SENT_TRANSPORT_ERRORS):
        return RetryableCarrierError("CARRIER_UNAVAILABLE", f"{kind}: the request did not reach AWS")
    if isinstance(exc, ParamValidationError):
        return PermanentCarrierError("CARRIER_REJECTED", f"{kind}: the request failed parameter validation")
    if isinstance(exc, ReadTimeoutError):
        return PermanentCarrierError("CARRIER_OUTCOME_UNKNOWN", f"{kind}: sent, but no answer in time")
    # A dropped connection, an unreadable answer, ...: the message may have gone out.
    return PermanentCarrierError("CARRIER_OUTCOME_UNKNOWN", f"{kind}: AWS may have accepted the message")
