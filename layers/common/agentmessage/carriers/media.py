"""Staging MMS media for AWS End User Messaging: fetch each https URL, put it in the media bucket.

SendMediaMessage takes ``s3://bucket/key`` URLs of objects in the sender's own account and Region,
read with the caller's permissions, while the API accepts https URLs. So, for a live MMS, the
dispatcher fetches each URL (https only, public hosts only, within AWS's type and size limits)
through ``net.public_https`` and puts it at a key made from the message
(``{org_id}/{message_id}/{index}.{ext}``): a retried send overwrites its own objects rather than
adding more, and the bucket's lifecycle rule removes them a few days later.

Staging runs before the send call, so no failure here can send a message twice: a transient one
(a timeout, a 5xx, throttling) is retryable, anything else is permanent with a ``MEDIA_*`` code.
Only the dispatcher's live path imports this module.
"""

import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message as Headers
from types import MappingProxyType
from typing import Any, Final, Protocol

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from agentmessage.carriers.base import (
    CarrierError,
    OutboundMessage,
    PermanentCarrierError,
    RetryableCarrierError,
)
from agentmessage.integration.time_budget import MEDIA_FETCH_READ, MEDIA_FETCH_TOTAL
from agentmessage.net.errors import Failed, Failure, Refused
from agentmessage.net.policy import Policy
from agentmessage.net.public_https import PublicHttpsClient

# Codes a failed staging leaves on the message.
URL_NOT_ALLOWED: Final = "MEDIA_URL_NOT_ALLOWED"  # not https, not ASCII, or not a public host
UNAVAILABLE: Final = "MEDIA_UNAVAILABLE"  # the host answered 4xx, does not exist, or its TLS is broken
FETCH_FAILED: Final = "MEDIA_FETCH_FAILED"  # retryable: a timeout, a 5xx, a dropped connection
TOO_LARGE: Final = "MEDIA_TOO_LARGE"
TYPE_UNSUPPORTED: Final = "MEDIA_TYPE_UNSUPPORTED"
STAGING_UNAVAILABLE: Final = "MEDIA_STAGING_UNAVAILABLE"  # retryable: S3 throttled, 5xx, timed out
STAGING_REJECTED: Final = "MEDIA_STAGING_REJECTED"  # S3 refused (a missing bucket, no permission)


@dataclass(frozen=True, slots=True)
class MediaType:
    max_bytes: int
    extension: str


# AWS End User Messaging's MMS file types and their size limits ("MMS file types, size and
# character limits"): 2 MB for gif, jpeg and png, 600 KB for every other type. Counted in
# decimal units, the stricter reading, so a file AWS might refuse is refused here, clearly.
_IMAGE_LIMIT: Final = 2_000_000
_OTHER_LIMIT: Final = 600_000
MEDIA_TYPES: Final[Mapping[str, MediaType]] = MappingProxyType(
    {
        "image/gif": MediaType(_IMAGE_LIMIT, ".gif"),
        "image/jpeg": MediaType(_IMAGE_LIMIT, ".jpg"),
        "image/png": MediaType(_IMAGE_LIMIT, ".png"),
        "image/tiff": MediaType(_OTHER_LIMIT, ".tiff"),
        "audio/3gpp": MediaType(_OTHER_LIMIT, ".3gp"),
        "video/3gpp": MediaType(_OTHER_LIMIT, ".3gp"),
        "audio/3gpp2": MediaType(_OTHER_LIMIT, ".3g2"),
        "video/3gpp2": MediaType(_OTHER_LIMIT, ".3g2"),
        "audio/amr": MediaType(_OTHER_LIMIT, ".amr"),
        "audio/mp4": MediaType(_OTHER_LIMIT, ".m4a"),
        "video/mp4": MediaType(_OTHER_LIMIT, ".mp4"),
        "audio/mpeg": MediaType(_OTHER_LIMIT, ".mp3"),  # MP3 only
        "audio/ogg": MediaType(_OTHER_LIMIT, ".ogg"),
        "video/quicktime": MediaType(_OTHER_LIMIT, ".mov"),
        "video/webm": MediaType(_OTHER_LIMIT, ".webm"),
        "text/calendar": MediaType(_OTHER_LIMIT, ".ics"),
        "text/vcard": MediaType(_OTHER_LIMIT, ".vcf"),
        "text/x-vcard": MediaType(_OTHER_LIMIT, ".vcf"),
        "application/pdf": MediaType(_OTHER_LIMIT, ".pdf"),
    }
)
_TYPE_ALIASES: Final = MappingProxyType({"image/jpg": "image/jpeg"})  # common, if not registered

_HEADERS: Final = MappingProxyType({"Accept": ", ".join(MEDIA_TYPES), "User-Agent": "AgentMessage-media/1"})
_MAX_REDIRECTS: Final = 3
_CONNECT_TIMEOUT: Final = 3.0


@dataclass(frozen=True, slots=True)
class Media:
    body: bytes
    content_type: str  # one of MEDIA_TYPES


Fetch = Callable[[str], Media]


class MediaStore(Protocol):
    """The one S3 call staging makes (a boto3 S3 client)."""

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> Mapping[str, Any]: ...


# -- fetching -------------------------------------------------------------------------------------


class HttpsMediaFetcher:
    """GETs one media URL through the public-hosts client, reading no more than its type allows.

    https only, up to 3 redirects (each to a public https URL), within ``total_timeout`` in all
    (so done one ``read_timeout`` after it at the latest: ``PublicHttpsClient``). The type is
    checked from the headers before the body is read, a declared length over the type's limit is
    refused unread, and the body is read up to the limit: more is ``MEDIA_TOO_LARGE``.
    ``transport`` replaces the https handler (tests pass one that answers without a network).
    """

    def __init__(
        self,
        *,
        transport: urllib.request.BaseHandler | None = None,
        total_timeout: float = MEDIA_FETCH_TOTAL,
        read_timeout: float = MEDIA_FETCH_READ,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = PublicHttpsClient(
            total_timeout=total_timeout,
            read_timeout=read_timeout,
            connect_timeout=_CONNECT_TIMEOUT,
            policy=Policy(max_redirects=_MAX_REDIRECTS),
            transport=transport,
            clock=clock,
        )
        self._total_timeout = total_timeout

    def __call__(self, url: str) -> Media:
        try:
            with self._client.open("GET", url, headers=_HEADERS) as response:
                if not 200 <= response.status < 300:
                    raise _from_status(response.status)
                content_type = _content_type(response.headers)
                limit = MEDIA_TYPES[content_type].max_bytes
                declared = _content_length(response.headers)
                if declared is not None and declared > limit:
                    raise PermanentCarrierError(
                        TOO_LARGE, f"{declared} bytes of {content_type}; at most {limit}"
                    )
                body, more = response.read(limit)
        except Refused as exc:
            raise PermanentCarrierError(URL_NOT_ALLOWED, exc.detail) from exc
        except Failed as exc:
            raise self._from_failure(exc) from exc
        if more:
            raise PermanentCarrierError(TOO_LARGE, f"more than {limit} bytes of {content_type}")
        if not body:
            raise PermanentCarrierError(UNAVAILABLE, "the media is empty")
        return Media(body=body, content_type=content_type)

    def _from_failure(self, failed: Failed) -> CarrierError:
        match failed.kind:
            case Failure.DEADLINE:
                return RetryableCarrierError(FETCH_FAILED, f"not fetched within {self._total_timeout:g} s")
            case Failure.CONNECTION:
                kind = failed.error_type or "connection error"
                return RetryableCarrierError(FETCH_FAILED, f"{kind} reaching the media host")
            case Failure.READ:
                return RetryableCarrierError(FETCH_FAILED, f"{failed.error_type} while reading")
            case Failure.HOST_NOT_FOUND:
                return PermanentCarrierError(UNAVAILABLE, "the media host does not exist")
            case Failure.CERTIFICATE:
                return PermanentCarrierError(UNAVAILABLE, "the media host's TLS certificate did not verify")
            case Failure.BAD_URL:
                return PermanentCarrierError(URL_NOT_ALLOWED, failed.detail)


def _content_type(headers: Headers) -> str:
    raw = headers.get("Content-Type")
    declared = (raw or "").split(";", 1)[0].strip().lower()
    declared = _TYPE_ALIASES.get(declared, declared)
    if declared not in MEDIA_TYPES:
        raise PermanentCarrierError(
            TYPE_UNSUPPORTED, f"{declared or 'no content type'} is not an MMS media type AWS supports"
        )
    return declared


def _content_length(headers: Headers) -> int | None:
    try:
        return int(headers.get("Content-Length", ""))
    except ValueError:
        return None


def _from_status(status: int) -> CarrierError:
    if status in (408, 425, 429) or status >= 500:
        return RetryableCarrierError(FETCH_FAILED, f"the media host answered HTTP {status}")
    if 300 <= status < 400:
        return PermanentCarrierError(
            UNAVAILABLE, f"HTTP {status}: too many redirects, or one without a target"
        )
    return PermanentCarrierError(UNAVAILABLE, f"the media host answered HTTP {status}")


# -- staging --------------------------------------------------------------------------------------


def media_key(org_id: str, message_id: str, index: int, content_type: str) -> str:
    """Where a message's media goes: the same key on every try of the same message."""
    return f"{org_id}/{message_id}/{index}{MEDIA_TYPES[content_type].extension}"


class MediaStager:
    """Fetches each of a message's media URLs and puts it in the bucket; returns ``s3://`` URLs."""

    def __init__(self, store: MediaStore, bucket: str, fetch: Fetch | None = None) -> None:
        self._store = store
        self._bucket = bucket
        self._fetch = fetch or HttpsMediaFetcher()

    def stage(self, message: OutboundMessage) -> list[str]:
        urls = []
        for index, source in enumerate(message.media_urls):
            try:
                media = self._fetch(source)
            except CarrierError as exc:  # the URL is never repeated: it may carry a token
                kind = RetryableCarrierError if exc.retryable else PermanentCarrierError
                raise kind(exc.code, f"media_urls[{index}]: {exc.detail}") from exc
            if media.content_type not in MEDIA_TYPES:
                raise PermanentCarrierError(TYPE_UNSUPPORTED, f"media_urls[{index}]: {media.content_type}")
            key = media_key(message.org_id, message.message_id, index, media.content_type)
            self._put(key, media)
            urls.append(f"s3://{self._bucket}/{key}")
        return urls

    def _put(self, key: str, media: Media) -> None:
        try:
            self._store.put_object(
                Bucket=self._bucket, Key=key, Body=media.body, ContentType=media.content_type
            )
        except ClientError as exc:
            raise _from_s3_error(exc) from exc
        except ParamValidationError as exc:
            raise PermanentCarrierError(
                STAGING_REJECTED, "ParamValidationError: the put was invalid"
            ) from exc
        except BotoCoreError as exc:
            # A timeout or a dropped connection: the put is idempotent, so trying again is safe.
            raise RetryableCarrierError(
                STAGING_UNAVAILABLE, f"{type(exc).__name__} putting the media"
            ) from exc


_S3_TRANSIENT_CODES: Final = frozenset(
    {"SlowDown", "RequestTimeout", "Throttling", "ThrottlingException", "RequestLimitExceeded"}
)


def _from_s3_error(exc: ClientError) -> CarrierError:
    code = exc.response.get("Error", {}).get("Code", "") or "unknown error"
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in _S3_TRANSIENT_CODES or status >= 500:
        return RetryableCarrierError(STAGING_UNAVAILABLE, f"S3 {code}")
    return PermanentCarrierError(STAGING_REJECTED, f"S3 {code}")
