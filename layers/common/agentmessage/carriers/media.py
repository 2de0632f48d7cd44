"""Staging MMS media for AWS End User Messaging: fetch each https URL, put it in the media bucket.

SendMediaMessage takes ``s3://bucket/key`` URLs of objects in the sender's own account and Region,
read with the caller's permissions, while the API accepts https URLs. So, for a live MMS, the
dispatcher fetches each URL (https only, public hosts only, within AWS's type and size limits)
and puts it at a key made from the message (``{org_id}/{message_id}/{index}.{ext}``): a retried
send overwrites its own objects rather than adding more, and the bucket's lifecycle rule
removes them a few days later.

Staging runs before the send call, so no failure here can send a message twice: a transient one
(a timeout, a 5xx, throttling) is retryable, anything else is permanent with a ``MEDIA_*`` code.
Only the dispatcher's live path imports this module.
"""

import http.client
import io
import ipaddress
import math
import socket
import ssl
import time
import urllib.request
from collections.abc import Buffer, Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message as Headers
from functools import partial
from types import MappingProxyType
from typing import IO, Any, Final, Protocol
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from agentmessage.carriers.base import (
    CarrierError,
    OutboundMessage,
    PermanentCarrierError,
    RetryableCarrierError,
)

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

_ACCEPT: Final = ", ".join(MEDIA_TYPES)
_USER_AGENT: Final = "AgentMessage-media/1"
_CHUNK: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class Media:
    body: bytes
    content_type: str  # one of MEDIA_TYPES


Fetch = Callable[[str], Media]
Resolve = Callable[[str, int], Sequence[str]]


class _Body(Protocol):
    """A response body, read a receive at a time."""

    def read1(self, size: int = -1, /) -> bytes: ...


class MediaStore(Protocol):
    """The one S3 call staging makes (a boto3 S3 client)."""

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> Mapping[str, Any]: ...


# -- URLs and hosts -------------------------------------------------------------------------------


def check_url(url: str) -> None:
    """Refuse a URL that is not https or does not name a public host by its domain name.

    The API already accepts only https URLs; this is checked again here, and for every redirect,
    because it is where the request is made.
    """
    if any(char.isspace() or not char.isprintable() for char in url):
        raise PermanentCarrierError(URL_NOT_ALLOWED, "the URL holds whitespace or control characters")
    if not url.isascii():
        # http.client sends the request line as ASCII: a non-ASCII path or query must be
        # percent-encoded, a non-ASCII host written in its xn-- form.
        raise PermanentCarrierError(URL_NOT_ALLOWED, "the URL is not ASCII")
    parts = urlsplit(url)
    if parts.scheme.lower() != "https":
        raise PermanentCarrierError(URL_NOT_ALLOWED, "not an https URL")
    if parts.username is not None or parts.password is not None:
        raise PermanentCarrierError(URL_NOT_ALLOWED, "the URL carries credentials")
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        raise PermanentCarrierError(URL_NOT_ALLOWED, "the URL has an invalid port") from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise PermanentCarrierError(URL_NOT_ALLOWED, "the URL has no host")
    try:
        # What the resolver and TLS do with the name: an empty label ("a..com") or one longer
        # than 63 characters fails here rather than as a UnicodeError at connect time.
        (parts.hostname or "").encode("idna")
    except UnicodeError:
        raise PermanentCarrierError(URL_NOT_ALLOWED, "the host is not a valid domain name") from None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise PermanentCarrierError(URL_NOT_ALLOWED, "the host is an IP address, not a domain name")
    if host == "localhost" or host.endswith(".localhost"):
        raise PermanentCarrierError(URL_NOT_ALLOWED, "the host is local")
    # A public name has a dot and an alphabetic top-level domain; this also refuses the numeric
    # forms a resolver reads as addresses ("2130706433", "0x7f.1", "127.1").
    labels = host.split(".")
    if len(labels) < 2 or not (labels[-1].isalpha() or labels[-1].startswith("xn--")):
        raise PermanentCarrierError(URL_NOT_ALLOWED, "the host is not a public domain name")


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the host resolves to (the system resolver)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


# -- the fetch's deadline -------------------------------------------------------------------------


class _Deadline:
    """When a fetch must be done, on the fetcher's clock."""

    def __init__(self, total: float, clock: Callable[[], float]) -> None:
        self.total = total
        self._clock = clock
        self._at = clock() + total

    def check(self) -> float:
        """The seconds left; a retryable ``MEDIA_FETCH_FAILED`` once there are none."""
        left = self._at - self._clock()
        if left <= 0:
            raise RetryableCarrierError(FETCH_FAILED, f"not fetched within {self.total:g} s")
        return left


class _TimedRequest(urllib.request.Request):
    """A request that carries its fetch's deadline to each connection and each redirect."""

    def __init__(self, url: str, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.deadline = deadline


class _DeadlineReader(io.RawIOBase):
    """A socket's receiving side on which no receive starts once the deadline has passed.

    http.client reads the status line, the headers and a chunked body's framing with
    ``readline``, which receives as often as it takes to find the end of a line: each receive is
    bounded by the socket's read timeout, and this bounds when one may start.
    """

    def __init__(self, raw: io.RawIOBase, deadline: _Deadline) -> None:
        super().__init__()
        self._raw = raw
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer, /) -> int | None:
        self._deadline.check()
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _DeadlineSocket:
    """The connection's TLS socket, as http.client uses it, with every receive under the deadline."""

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str) -> io.BufferedReader:  # HTTPResponse's one call: makefile("rb")
        return io.BufferedReader(_DeadlineReader(self._sock.makefile("rb", buffering=0), self._deadline))

    def sendall(self, data: Buffer) -> None:
        self._sock.sendall(data)

    def close(self) -> None:
        self._sock.close()


class _PublicHTTPSConnection(http.client.HTTPSConnection):
    """Connects only to public addresses, checked on the addresses it actually connects to.

    A domain name that resolves to a private, loopback or link-local address is refused at
    connect time, so a DNS answer that changes between a check and the connection cannot get
    around it. TLS is still verified against the host name.

    With a deadline (a fetch's ``_TimedRequest``), no connect attempt starts once it has passed,
    each is given at most the time left, and no receive starts once it has passed.
    """

    def __init__(
        self,
        host: str,
        *,
        resolve: Resolve,
        connect_timeout: float,
        read_timeout: float,
        deadline: _Deadline | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(host, **kwargs)
        self._resolve = resolve
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._deadline = deadline
        self._create_connection = self._connect_public

    def _time_left(self) -> float:
        return math.inf if self._deadline is None else self._deadline.check()

    def connect(self) -> None:
        super().connect()  # TCP to a public address (_connect_public), then the TLS handshake
        if self._deadline is not None:
            self.sock = _DeadlineSocket(self.sock, self._deadline)

    def _connect_public(
        self, address: tuple[str, int], timeout: object = None, source_address: object = None
    ) -> socket.socket:
        host, port = address
        self._time_left()  # no lookup or connect starts past the deadline
        addresses = list(self._resolve(host, port))
        if not addresses or not all(_is_public(each) for each in addresses):
            raise PermanentCarrierError(URL_NOT_ALLOWED, "the host resolves to a non-public address")
        error: OSError | None = None
        for each in addresses:
            connect_timeout = min(self._connect_timeout, self._time_left())
            try:
                sock = socket.create_connection((each, port), timeout=connect_timeout)
            except OSError as exc:
                error = exc
                continue
            sock.settimeout(self._read_timeout)  # each receive, and the TLS handshake as a whole
            return sock
        raise error or OSError("no address to connect to")


class PublicHTTPSHandler(urllib.request.HTTPSHandler):
    """urllib's https handler over ``_PublicHTTPSConnection`` (verified TLS, public hosts only)."""

    def __init__(
        self,
        *,
        resolve: Resolve = resolve_host,
        connect_timeout: float = 3.0,
        read_timeout: float = 5.0,
    ) -> None:
        super().__init__(context=ssl.create_default_context())
        self._connection = partial(
            _PublicHTTPSConnection,
            resolve=resolve,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        deadline = req.deadline if isinstance(req, _TimedRequest) else None
        connection = partial(self._connection, deadline=deadline)
        return self.do_open(connection, req, context=self._context)  # type: ignore[attr-defined]


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a few redirects, each to a URL that passes ``check_url``, none past the deadline."""

    max_redirections = 3

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        try:
            check_url(newurl)
        except PermanentCarrierError as exc:
            fp.close()
            raise PermanentCarrierError(exc.code, f"redirected: {exc.detail}") from None
        if not isinstance(req, _TimedRequest):
            return super().redirect_request(req, fp, code, msg, headers, newurl)
        try:
            req.deadline.check()
        except CarrierError:
            fp.close()
            raise
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None:
            return None
        return _TimedRequest(
            new.full_url,
            req.deadline,
            headers=new.headers,
            origin_req_host=new.origin_req_host,
            unverifiable=new.unverifiable,
            method=new.get_method(),
        )


# -- fetching -------------------------------------------------------------------------------------


class HttpsMediaFetcher:
    """GETs one media URL with the standard library, reading no more than its type allows.

    The type is checked from the headers before the body is read, a declared length over the
    limit is refused unread, and the body is read in chunks up to the limit and a total deadline.
    ``transport`` replaces the https handler (tests pass one that answers without a network).

    How long a fetch takes, redirects included, with the default https handler: once
    ``total_timeout`` has passed, no connect attempt, receive or redirect starts (the fetch fails
    with a retryable ``MEDIA_FETCH_FAILED``), and each connect attempt is given at most the time
    left. So a fetch ends at the latest one read timeout after ``total_timeout`` (10 s + 5 s with
    the defaults): a receive, or a TLS handshake, that started just before the deadline may take
    that long, and no other can start after it. Not in that bound: a DNS lookup, which the system
    resolver alone times out (one per connection, started only before the deadline). With an
    injected ``transport``, the deadline is checked before each read of the body, each a single
    ``read1``: the bound is then ``total_timeout`` plus that transport's time to open and one read.
    """

    def __init__(
        self,
        *,
        transport: urllib.request.BaseHandler | None = None,
        total_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Only these handlers: no proxies from the environment, no http:, file: or ftp: URLs.
        self._opener = urllib.request.OpenerDirector()
        for handler in (
            transport or PublicHTTPSHandler(),
            _HttpsOnlyRedirects(),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPErrorProcessor(),
            urllib.request.UnknownHandler(),
        ):
            self._opener.add_handler(handler)
        self._total_timeout = total_timeout
        self._clock = clock

    def __call__(self, url: str) -> Media:
        check_url(url)
        deadline = _Deadline(self._total_timeout, self._clock)
        request = _TimedRequest(url, deadline, headers={"Accept": _ACCEPT, "User-Agent": _USER_AGENT})
        try:
            with self._open(request) as response:
                content_type = _content_type(response.headers)
                limit = MEDIA_TYPES[content_type].max_bytes
                declared = _content_length(response.headers)
                if declared is not None and declared > limit:
                    raise PermanentCarrierError(
                        TOO_LARGE, f"{declared} bytes of {content_type}; at most {limit}"
                    )
                body = self._read(response, content_type, limit, deadline)
        except HTTPError as exc:
            exc.close()
            raise _from_status(exc.code) from exc
        except URLError as exc:
            raise _from_connection_error(exc.reason) from exc
        except http.client.InvalidURL as exc:
            raise PermanentCarrierError(URL_NOT_ALLOWED, "the URL is not valid") from exc
        except (OSError, http.client.HTTPException) as exc:  # while reading the body
            raise RetryableCarrierError(FETCH_FAILED, f"{type(exc).__name__} while reading") from exc
        if not body:
            raise PermanentCarrierError(UNAVAILABLE, "the media is empty")
        return Media(body=body, content_type=content_type)

    def _open(self, request: _TimedRequest) -> Any:
        try:
            return self._opener.open(request)
        except ValueError as exc:
            # UnicodeError included: a URL http.client cannot write or a host IDNA cannot encode.
            # check_url refuses those it knows of; whatever else, nothing was sent, and never will be.
            raise PermanentCarrierError(
                URL_NOT_ALLOWED, f"{type(exc).__name__}: the URL cannot be requested"
            ) from exc

    @staticmethod
    def _read(response: _Body, content_type: str, limit: int, deadline: _Deadline) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            deadline.check()
            # read1, not read: read(n) receives until it has n bytes, so a host sending a byte at a
            # time would hold it for as long as it likes; read1 receives once, within the read timeout.
            chunk = response.read1(min(_CHUNK, limit + 1 - size))
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > limit:
                raise PermanentCarrierError(TOO_LARGE, f"more than {limit} bytes of {content_type}")
            chunks.append(chunk)


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


_HOST_NOT_FOUND: Final = frozenset(
    code for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None)) if code
)


def _from_connection_error(reason: object) -> CarrierError:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return PermanentCarrierError(UNAVAILABLE, "the media host's TLS certificate did not verify")
    if isinstance(reason, socket.gaierror) and reason.errno in _HOST_NOT_FOUND:
        return PermanentCarrierError(UNAVAILABLE, "the media host does not exist")
    kind = type(reason).__name__ if isinstance(reason, BaseException) else "connection error"
    return RetryableCarrierError(FETCH_FAILED, f"{kind} reaching the media host")


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
