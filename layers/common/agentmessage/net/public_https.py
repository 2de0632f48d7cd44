"""The outbound HTTP client that reaches only public hosts: one request, one deadline, a capped body.

``PublicHttpsClient`` sends a GET or a POST to a URL its ``Policy`` allows, on a connection to an
address the policy allows (``net.transport``), and answers a response for every HTTP status: what
a status means is the caller's business. It raises ``Refused`` when the URL, a redirect's target
or a resolved address is not allowed, and ``Failed`` when no response was had (``net.errors``).
Only the handlers it is given take part: no proxies from the environment, no other schemes.
"""

import http.client
import socket
import ssl
import string
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from types import TracebackType
from typing import Final, Literal, Protocol, Self
from urllib.error import URLError
from urllib.parse import quote, urljoin, urlparse, urlunparse

from agentmessage.net.errors import Failed, Failure, Refused
from agentmessage.net.policy import Policy, check_url
from agentmessage.net.transport import Deadline, PublicHTTPSHandler, Resolve, TimedRequest, resolve_host

Method = Literal["GET", "POST"]

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_CHUNK: Final = 64 * 1024
_HOST_NOT_FOUND: Final = frozenset(
    code for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None)) if code
)


class _Raw(Protocol):
    """What a handler answers: an http.client response, or a stand-in's."""

    status: int
    headers: Message

    def read1(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Response:
    """Any HTTP status, its headers, and the body up to the cap (``truncated``: the host sent more)."""

    status: int
    headers: Message
    body: bytes
    truncated: bool


class OpenResponse:
    """A response whose status and headers are in and whose body is not read yet.

    A context manager: the connection is closed on leaving it, the body read or not.
    """

    def __init__(self, raw: _Raw, deadline: Deadline) -> None:
        self._raw = raw
        self._deadline = deadline
        self.status = raw.status
        self.headers = raw.headers

    def read(self, max_bytes: int) -> tuple[bytes, bool]:
        """The body, up to ``max_bytes``, and whether the host sent more (read once, at most one byte past).

        Each read is one ``read1``, one receive within the read timeout, started only before the
        deadline: ``read(n)`` would receive until it had n bytes, as long as a host sending a byte
        at a time liked.
        """
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                self._deadline.check()
                chunk = self._raw.read1(min(_CHUNK, max_bytes + 1 - size))
                if not chunk:
                    return b"".join(chunks), False
                size += len(chunk)
                if size > max_bytes:
                    chunks.append(chunk[: len(chunk) - (size - max_bytes)])
                    return b"".join(chunks), True
                chunks.append(chunk)
        except (OSError, http.client.HTTPException) as exc:
            raise _failed(Failure.READ, exc, "while reading") from exc

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class PublicHttpsClient:
    """Sends one request at a time to hosts ``policy`` allows, each within ``total_timeout``.

    The deadline covers the whole exchange, redirects included: once it has passed, no connect
    attempt, receive or redirect starts (``Failed``, retryable), and each connect attempt is given
    at most the time left (and at most ``connect_timeout``). So a request ends at the latest one
    ``read_timeout`` after ``total_timeout``: a receive, or a TLS handshake, that started just
    before the deadline may take that long, and no other can start after it. Not in that bound: a
    DNS lookup, which the system resolver alone times out (one per connection, started only before
    the deadline).

    ``transport`` replaces the handler (tests pass one that answers without a network; ``resolve``,
    ``connect_timeout`` and ``read_timeout`` are then its business). With it, the deadline is
    checked before each redirect and each read of the body: the bound is then ``total_timeout``
    plus that transport's time to open and one read.
    """

    def __init__(
        self,
        *,
        total_timeout: float,
        read_timeout: float,
        connect_timeout: float = 3.0,
        policy: Policy | None = None,
        resolve: Resolve = resolve_host,
        transport: urllib.request.BaseHandler | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policy = policy or Policy()
        self._total_timeout = total_timeout
        self._clock = clock
        handler = transport or PublicHTTPSHandler(
            read_timeout=read_timeout, connect_timeout=connect_timeout, resolve=resolve
        )
        self._opener = urllib.request.OpenerDirector()
        for each in (handler, urllib.request.UnknownHandler()):
            self._opener.add_handler(each)

    def request(
        self,
        method: Method,
        url: str,
        *,
        max_bytes: int,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        """The response, whatever its status, with at most ``max_bytes`` of its body."""
        with self.open(method, url, headers=headers, body=body) as response:
            content, truncated = response.read(max_bytes)
            return Response(response.status, response.headers, content, truncated)

    def open(
        self, method: Method, url: str, *, headers: Mapping[str, str] | None = None, body: bytes | None = None
    ) -> OpenResponse:
        """The response with its body unread, for a caller that decides from the headers how much to read.

        A redirect (301, 302, 303, 307 or 308 with a target) is followed only for a GET, only while
        the policy's ``max_redirects`` allows, and only to an https URL that passes the same checks;
        otherwise the redirect is the response.
        """
        if method not in ("GET", "POST"):
            raise ValueError("only GET and POST are sent")
        check_url(url, self._policy)
        deadline = Deadline(self._total_timeout, self._clock)
        request_headers = dict(headers or {})
        followed = 0
        while True:
            request = TimedRequest(
                url, deadline, self._policy, method=method, headers=request_headers, data=body
            )
            raw = self._send(request)
            target = self._redirect_target(raw, method, url)
            if target is None:
                return OpenResponse(raw, deadline)
            try:
                check_url(target, self._policy.for_redirects())
            except Refused as exc:
                raw.close()
                raise Refused(f"redirected: {exc.detail}") from None
            try:
                deadline.check()
            except Failed:
                raw.close()
                raise
            if followed >= self._policy.max_redirects:
                return OpenResponse(raw, deadline)  # one redirect too many: the caller has it
            raw.close()
            url = target
            followed += 1

    def _send(self, request: TimedRequest) -> _Raw:
        try:
            raw: _Raw = self._opener.open(request)
        except URLError as exc:  # raised on connect, the TLS handshake or sending the request
            raise _from_connection_error(exc.reason) from exc
        except http.client.InvalidURL as exc:
            raise Failed(Failure.BAD_URL, "the URL is not valid", type(exc).__name__) from exc
        except ValueError as exc:
            # UnicodeError included: a URL http.client cannot write or a host IDNA cannot encode.
            # check_url refuses those it knows of; whatever else, nothing was sent, and never will be.
            name = type(exc).__name__
            raise Failed(Failure.BAD_URL, f"{name}: the URL cannot be requested", name) from exc
        except (OSError, http.client.HTTPException) as exc:  # the status line or the headers
            raise _failed(Failure.READ, exc, "while reading") from exc
        return raw

    def _redirect_target(self, raw: _Raw, method: Method, url: str) -> str | None:
        """Where a redirect to follow points, absolute and percent-encoded as urllib makes it; else None."""
        if method != "GET" or not self._policy.max_redirects or raw.status not in _REDIRECTS:
            return None
        for name in ("Location", "URI"):
            if name in raw.headers:
                location = str(raw.headers[name])
                break
        else:
            return None
        parts = urlparse(location)
        if not parts.path and parts.netloc:
            parts = parts._replace(path="/")
        # http.client decodes headers as ISO-8859-1: recover the bytes, percent-encode the rest.
        return urljoin(url, quote(urlunparse(parts), encoding="iso-8859-1", safe=string.punctuation))


def _failed(kind: Failure, exc: BaseException, what: str) -> Failed:
    name = type(exc).__name__
    return Failed(kind, f"{name} {what}", name)


def _from_connection_error(reason: object) -> Failed:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return Failed(Failure.CERTIFICATE, "the host's TLS certificate did not verify", type(reason).__name__)
    if isinstance(reason, socket.gaierror) and reason.errno in _HOST_NOT_FOUND:
        return Failed(Failure.HOST_NOT_FOUND, "the host does not exist", type(reason).__name__)
    if isinstance(reason, BaseException):
        return _failed(Failure.CONNECTION, reason, "reaching the host")
    return Failed(Failure.CONNECTION, "connection error reaching the host")
