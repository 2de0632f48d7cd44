"""MMS media staging: https media fetched safely, put in the media bucket, sent as an s3:// URL.

No network: the fetcher runs on urllib with its https handler replaced by ``FakeHttps``, or with
the real handler and a fake resolver; S3 and AWS End User Messaging are botocore Stubbers.
"""

import http.client
import io
import itertools
import socket
import ssl
import subprocess
import sys
import urllib.request
import urllib.response
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.error import URLError

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from agentmessage.carriers import CarrierError, OutboundMessage, SendResult
from agentmessage.carriers.aws import EndUserMessagingCarrier
from agentmessage.carriers.media import (
    MEDIA_TYPES,
    HttpsMediaFetcher,
    Media,
    MediaStager,
    PublicHTTPSHandler,
    check_url,
    media_key,
)
from agentmessage.requests import parse_send_request
from tests.support.messages import send_body

if TYPE_CHECKING:
    from mypy_boto3_pinpoint_sms_voice_v2 import PinpointSMSVoiceV2Client

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "agentmessage-media-123456789012-us-east-1-dev"
SOURCE = "https://cdn.example.com/images/cat.png?v=2&token=s3cr3t"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1024
TO = "+15555550123"
FROM = "+15555550100"
TEXT = "Your code is 123456"


def an_mms(*media_urls: str) -> OutboundMessage:
    return OutboundMessage(
        message_id="msg_1",
        org_id="org_1",
        from_=FROM,
        to=TO,
        text=TEXT,
        channel="mms",
        media_urls=media_urls or (SOURCE,),
    )


# -- a transport that answers without a network ---------------------------------------------------


class CountingBody(io.BytesIO):
    """A response body that counts what was read from it, and can fail after some bytes."""

    def __init__(self, body: bytes, fail_after: int | None = None) -> None:
        super().__init__(body)
        self.bytes_read = 0
        self._fail_after = fail_after

    def read(self, size: int | None = -1) -> bytes:
        return self._counted(super().read, size)

    def read1(self, size: int | None = -1) -> bytes:
        return self._counted(super().read1, size)

    def _counted(self, read: Callable[[int | None], bytes], size: int | None) -> bytes:
        if self._fail_after is not None and self.bytes_read >= self._fail_after:
            raise TimeoutError("timed out")
        chunk = read(size)
        self.bytes_read += len(chunk)
        return chunk


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "image/png"})
    body: bytes = PNG
    fail_after: int | None = None
    served: list[CountingBody] = field(default_factory=list)

    def response(self, url: str) -> urllib.response.addinfourl:
        headers = http.client.HTTPMessage()
        for name, value in self.headers.items():
            headers[name] = value
        body = CountingBody(self.body, self.fail_after)
        self.served.append(body)
        response = urllib.response.addinfourl(body, headers, url, self.status)
        response.msg = "answer"  # type: ignore[attr-defined]  # what urllib's error processor reads
        return response


class FakeHttps(urllib.request.BaseHandler):
    """Stands in for the https handler: each URL's answer (or the error its transport raises)."""

    def __init__(self, answers: dict[str, Answer | BaseException]) -> None:
        self.answers = answers
        self.requests: list[urllib.request.Request] = []

    def https_open(self, req: urllib.request.Request) -> urllib.response.addinfourl:
        self.requests.append(req)
        answer = self.answers[req.full_url]
        if isinstance(answer, BaseException):
            raise answer
        return answer.response(req.full_url)


def fetcher(
    answers: dict[str, Answer | BaseException], **options: Any
) -> tuple[HttpsMediaFetcher, FakeHttps]:
    transport = FakeHttps(answers)
    return HttpsMediaFetcher(transport=transport, **options), transport


def refused(fetch: Callable[[str], Media], url: str = SOURCE) -> CarrierError:
    with pytest.raises(CarrierError) as raised:
        fetch(url)
    error = raised.value
    # A URL may carry a token: no error repeats it
    assert url not in error.detail
    assert "s3cr3t" not in error.detail
    return error


# -- URL safety -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com/cat.png",
        "https://CDN.Example.COM./cat.png",
        "https://cdn.example.com:8443/cat.png?size=large",
        "https://xn--bcher-kva.example/cat.png",
        "https://media.example.co.uk/a/b/c.jpg#fragment",
        "https://cdn.example.com/caf%C3%A9.png?q=%C3%A9",  # percent-encoded
        f"https://{'a' * 63}.com/x.png",  # the longest label
    ],
)
def test_a_public_https_url_is_allowed(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://cdn.example.com/cat.png",
        "ftp://cdn.example.com/cat.png",
        "file:///etc/passwd",
        "https://127.0.0.1/cat.png",
        "https://10.0.0.8/cat.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/cat.png",
        "https://[::ffff:127.0.0.1]/cat.png",
        "https://2130706433/cat.png",  # 127.0.0.1 as one number
        "https://0x7f.1/cat.png",
        "https://127.1/cat.png",
        "https://localhost/cat.png",
        "https://media.localhost/cat.png",
        "https://intranet/cat.png",
        "https://user:password@cdn.example.com/cat.png",
        "https://cdn.example.com@169.254.169.254/cat.png",
        "https://cdn.example.com:99999/cat.png",
        "https://cdn.example.com/cat .png",
        "https://cdn.example.com/cat.png\r\nX-Injected: 1",
        "https:///cat.png",
        # Not ASCII: http.client cannot write the request line (UnicodeEncodeError)
        "https://example.com/café.png",
        "https://example.com/cat.png?q=é",
        "https://bücher.example/cat.png",  # the xn-- form is allowed
        # A host IDNA cannot encode: the resolver would raise UnicodeError
        f"https://{'a' * 64}.com/x.png",
        "https://a..com/x.png",
        "https://cdn.example.com../x.png",
    ],
)
def test_an_unsafe_url_is_refused_without_a_request(url: str) -> None:
    fetch, transport = fetcher({})

    error = refused(fetch, url)

    assert (error.code, error.retryable) == ("MEDIA_URL_NOT_ALLOWED", False)
    assert transport.requests == []


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["10.1.2.3"],
        ["192.168.0.10"],
        ["169.254.169.254"],
        ["100.64.0.1"],  # shared address space
        ["::1"],
        ["fd00::1"],
        ["::ffff:127.0.0.1"],
        ["93.184.215.14", "10.1.2.3"],  # one private answer is enough to refuse
        [],
    ],
)
def test_a_host_that_resolves_to_a_non_public_address_is_refused_before_connecting(
    addresses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a public-looking name whose DNS answer is private (or empty)
    connects: list[Any] = []
    monkeypatch.setattr(socket, "create_connection", lambda *args, **kwargs: connects.append(args))
    fetch = HttpsMediaFetcher(transport=PublicHTTPSHandler(resolve=lambda host, port: addresses))

    # When it is fetched, through the real https handler
    error = refused(fetch)

    # Then it is refused at connect time, on the addresses it would connect to
    assert (error.code, error.retryable) == ("MEDIA_URL_NOT_ALLOWED", False)
    assert connects == []


def test_a_public_address_is_connected_to_with_the_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a name that resolves to a public address, whose server refuses the connection
    connects: list[tuple[Any, ...]] = []

    def refuse(address: tuple[str, int], timeout: float | None = None, *_: Any) -> socket.socket:
        connects.append((address, timeout))
        raise ConnectionRefusedError("refused")

    resolved: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        resolved.append((host, port))
        return ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]

    monkeypatch.setattr(socket, "create_connection", refuse)
    fetch = HttpsMediaFetcher(transport=PublicHTTPSHandler(resolve=resolve, connect_timeout=2.5))

    # When it is fetched
    error = refused(fetch)

    # Then each resolved address was tried (the name itself never re-resolved), and a refused
    # connection is worth another try later
    assert resolved == [("cdn.example.com", 443)]
    assert connects == [(("93.184.215.14", 443), 2.5), (("2606:2800:21f:cb07:6820:80da:af6b:8b2c", 443), 2.5)]
    assert (error.code, error.retryable) == ("MEDIA_FETCH_FAILED", True)


# -- fetching -------------------------------------------------------------------------------------


def test_a_png_is_fetched_with_a_get_that_accepts_only_mms_types() -> None:
    fetch, transport = fetcher({SOURCE: Answer()})

    media = fetch(SOURCE)

    assert media == Media(body=PNG, content_type="image/png")
    (request,) = transport.requests
    assert request.get_method() == "GET"
    accepted = {each.strip() for each in request.get_header("Accept", "").split(",")}
    assert accepted == set(MEDIA_TYPES)
    assert request.get_header("User-agent", "").startswith("AgentMessage")


@pytest.mark.parametrize(
    ("header", "content_type"),
    [
        ("image/jpeg", "image/jpeg"),
        ("IMAGE/JPEG; charset=binary", "image/jpeg"),
        ("image/jpg", "image/jpeg"),
        ("application/pdf", "application/pdf"),
        ("text/x-vcard", "text/x-vcard"),
        ("video/mp4", "video/mp4"),
    ],
)
def test_the_content_type_is_read_from_the_header(header: str, content_type: str) -> None:
    fetch, _ = fetcher({SOURCE: Answer(headers={"Content-Type": header})})

    assert fetch(SOURCE).content_type == content_type


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/html; charset=utf-8"},
        {"Content-Type": "image/webp"},
        {"Content-Type": "image/svg+xml"},
        {"Content-Type": "application/octet-stream"},
        {},
    ],
)
def test_a_type_aws_does_not_send_is_refused_unread(headers: dict[str, str]) -> None:
    answer = Answer(headers=headers)
    fetch, _ = fetcher({SOURCE: answer})

    error = refused(fetch)

    assert (error.code, error.retryable) == ("MEDIA_TYPE_UNSUPPORTED", False)
    assert answer.served[0].bytes_read == 0


@pytest.mark.parametrize(
    ("content_type", "limit"),
    [("image/png", 2_000_000), ("image/gif", 2_000_000), ("image/tiff", 600_000), ("video/mp4", 600_000)],
)
def test_a_declared_length_over_the_types_limit_is_refused_unread(content_type: str, limit: int) -> None:
    answer = Answer(headers={"Content-Type": content_type, "Content-Length": str(limit + 1)}, body=b"x")
    fetch, _ = fetcher({SOURCE: answer})

    error = refused(fetch)

    assert (error.code, error.retryable) == ("MEDIA_TOO_LARGE", False)
    assert answer.served[0].bytes_read == 0


@pytest.mark.parametrize(("content_type", "limit"), [("image/jpeg", 2_000_000), ("audio/mpeg", 600_000)])
def test_an_undeclared_body_is_read_no_further_than_one_byte_past_the_limit(
    content_type: str, limit: int
) -> None:
    answer = Answer(headers={"Content-Type": content_type}, body=b"x" * (limit * 3))
    fetch, _ = fetcher({SOURCE: answer})

    error = refused(fetch)

    assert (error.code, error.retryable) == ("MEDIA_TOO_LARGE", False)
    assert answer.served[0].bytes_read == limit + 1


def test_a_body_exactly_at_the_limit_is_fetched() -> None:
    body = b"%PDF" + b"x" * (600_000 - 4)
    fetch, _ = fetcher({SOURCE: Answer(headers={"Content-Type": "application/pdf"}, body=body)})

    assert fetch(SOURCE) == Media(body=body, content_type="application/pdf")


def test_an_empty_body_is_refused() -> None:
    fetch, _ = fetcher({SOURCE: Answer(body=b"")})

    assert refused(fetch).code == "MEDIA_UNAVAILABLE"


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (400, "MEDIA_UNAVAILABLE", False),
        (401, "MEDIA_UNAVAILABLE", False),
        (403, "MEDIA_UNAVAILABLE", False),
        (404, "MEDIA_UNAVAILABLE", False),
        (410, "MEDIA_UNAVAILABLE", False),
        (408, "MEDIA_FETCH_FAILED", True),
        (429, "MEDIA_FETCH_FAILED", True),
        (500, "MEDIA_FETCH_FAILED", True),
        (502, "MEDIA_FETCH_FAILED", True),
        (503, "MEDIA_FETCH_FAILED", True),
    ],
)
def test_an_http_error_is_permanent_for_4xx_and_retryable_for_5xx(
    status: int, code: str, retryable: bool
) -> None:
    fetch, _ = fetcher(
        {SOURCE: Answer(status=status, headers={"Content-Type": "text/html"}, body=b"<h1>no</h1>")}
    )

    error = refused(fetch)

    assert (error.code, error.retryable) == (code, retryable)
    assert str(status) in error.detail


def redirect(location: str, status: int = 302) -> Answer:
    return Answer(status=status, headers={"Location": location}, body=b"")


def test_an_https_redirect_to_a_public_host_is_followed() -> None:
    target = "https://media.example.net/cat.png"
    fetch, transport = fetcher({SOURCE: redirect(target, 301), target: Answer()})

    assert fetch(SOURCE) == Media(body=PNG, content_type="image/png")
    assert [request.full_url for request in transport.requests] == [SOURCE, target]


@pytest.mark.parametrize(
    "location",
    [
        "http://cdn.example.com/cat.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://localhost/cat.png",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_to_an_unsafe_url_is_refused_without_following_it(location: str) -> None:
    fetch, transport = fetcher({SOURCE: redirect(location)})

    error = refused(fetch)

    assert (error.code, error.retryable) in {("MEDIA_URL_NOT_ALLOWED", False), ("MEDIA_UNAVAILABLE", False)}
    assert [request.full_url for request in transport.requests] == [SOURCE]


def test_a_redirect_to_http_names_the_reason() -> None:
    fetch, _ = fetcher({SOURCE: redirect("http://cdn.example.com/cat.png")})

    error = refused(fetch)

    assert (error.code, error.retryable) == ("MEDIA_URL_NOT_ALLOWED", False)
    assert error.detail == "redirected: not an https URL"


def test_too_many_redirects_are_refused() -> None:
    hops = [f"https://cdn.example.com/hop/{number}" for number in range(6)]
    answers: dict[str, Answer | BaseException] = {SOURCE: redirect(hops[0])}
    answers |= {hop: redirect(following) for hop, following in itertools.pairwise(hops)}
    fetch, transport = fetcher(answers)

    error = refused(fetch)

    assert (error.code, error.retryable) == ("MEDIA_UNAVAILABLE", False)
    assert len(transport.requests) == 4  # the URL and 3 redirects


@pytest.mark.parametrize(
    ("failure", "code", "retryable"),
    [
        (URLError(TimeoutError("timed out")), "MEDIA_FETCH_FAILED", True),
        (URLError(ConnectionResetError("reset")), "MEDIA_FETCH_FAILED", True),
        (URLError(socket.gaierror(socket.EAI_AGAIN, "try again")), "MEDIA_FETCH_FAILED", True),
        (URLError(socket.gaierror(socket.EAI_NONAME, "not known")), "MEDIA_UNAVAILABLE", False),
        (URLError(ssl.SSLCertVerificationError("hostname mismatch")), "MEDIA_UNAVAILABLE", False),
        (TimeoutError("read timed out"), "MEDIA_FETCH_FAILED", True),  # raised by getresponse
        (http.client.RemoteDisconnected("closed"), "MEDIA_FETCH_FAILED", True),
    ],
    ids=["timeout", "reset", "dns-again", "no-such-host", "bad-certificate", "read-timeout", "disconnected"],
)
def test_a_connection_failure_is_mapped(failure: BaseException, code: str, retryable: bool) -> None:
    fetch, _ = fetcher({SOURCE: failure})

    error = refused(fetch)

    assert (error.code, error.retryable) == (code, retryable)


def test_a_read_timeout_in_the_body_is_retryable() -> None:
    fetch, _ = fetcher({SOURCE: Answer(body=b"x" * 200_000, fail_after=65_536)})

    error = refused(fetch)

    assert (error.code, error.retryable) == ("MEDIA_FETCH_FAILED", True)


def test_a_body_that_trickles_past_the_total_deadline_is_retryable() -> None:
    # Given a clock that moves 4 s per look, and a 10 s deadline over a body of many chunks
    ticks = iter(range(0, 1000, 4))
    fetch, _ = fetcher({SOURCE: Answer(body=b"x" * 500_000)}, total_timeout=10.0, clock=lambda: next(ticks))

    error = refused(fetch)

    assert (error.code, error.retryable) == ("MEDIA_FETCH_FAILED", True)
    assert "10 s" in error.detail


@pytest.mark.parametrize(
    "failure",
    [
        UnicodeEncodeError("ascii", "GET /caf\u00e9.png HTTP/1.1", 8, 9, "ordinal not in range(128)"),
        UnicodeError("encoding with 'idna' codec failed (UnicodeError: label empty or too long)"),
        ValueError("unknown url type"),
    ],
    ids=lambda failure: type(failure).__name__,
)
def test_an_error_encoding_the_request_is_a_permanent_url_error(failure: Exception) -> None:
    # Given http.client or the IDNA codec fails on a URL that check_url let through
    fetch, _ = fetcher({SOURCE: failure})

    error = refused(fetch)

    # Then it is refused for good, naming the error's type (never its text: it holds the URL)
    assert (error.code, error.retryable) == ("MEDIA_URL_NOT_ALLOWED", False)
    assert error.detail == f"{type(failure).__name__}: the URL cannot be requested"


# -- the total deadline ----------------------------------------------------------------------------

READ_TIMEOUT = 5.0
DRIP = 4.9  # a byte every 4.9 s: no single receive ever reaches the 5 s read timeout


class Clock:
    """The fetcher's monotonic clock, moved only by the media host's waits."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class DrippingBody(io.BufferedIOBase):
    """A response body sent a byte per receive, each 4.9 s after the last.

    ``read1`` is one receive; ``read(n)`` receives until it has n bytes, as http.client's does.
    """

    def __init__(self, clock: Clock, size: int) -> None:
        super().__init__()
        self._clock = clock
        self._left = size
        self.receives = 0

    def read1(self, size: int | None = -1) -> bytes:
        if not self._left or size == 0:
            return b""
        self.receives += 1
        self._clock.now += DRIP
        self._left -= 1
        return b"x"

    def read(self, size: int | None = -1) -> bytes:
        wanted = self._left if size is None or size < 0 else size
        body = b""
        while len(body) < wanted and (chunk := self.read1(wanted - len(body))):
            body += chunk
        return body


class DrippingHttps(urllib.request.BaseHandler):
    def __init__(self, body: DrippingBody) -> None:
        self.body = body

    def https_open(self, req: urllib.request.Request) -> urllib.response.addinfourl:
        headers = http.client.HTTPMessage()
        headers["Content-Type"] = "image/png"
        body: Any = self.body  # a binary file, as far as addinfourl is concerned
        response = urllib.response.addinfourl(body, headers, req.full_url, 200)
        response.msg = "OK"  # type: ignore[attr-defined]
        return response


def test_a_body_dripped_a_byte_at_a_time_is_cut_off_one_read_timeout_after_the_deadline() -> None:
    # Given a host that sends a 1000-byte png one byte every 4.9 s (4900 s in all)
    clock = Clock()
    body = DrippingBody(clock, 1000)
    fetch = HttpsMediaFetcher(transport=DrippingHttps(body), total_timeout=10.0, clock=clock)

    # When it is fetched
    error = refused(fetch)

    # Then the fetch gave up within the deadline plus one receive (read(n) would have waited for
    # all 1000 bytes), and may be tried again
    assert (error.code, error.retryable) == ("MEDIA_FETCH_FAILED", True)
    assert error.detail == "not fetched within 10 s"
    assert clock.now <= 10.0 + READ_TIMEOUT
    assert body.receives == 3  # at 0, 4.9 and 9.8 s; none from 14.7 s


class ScriptedReceive(io.RawIOBase):
    """What the host sends on the connection: ``fast`` at once, then ``slow`` a byte per receive."""

    def __init__(self, clock: Clock, fast: bytes, slow: bytes = b"") -> None:
        super().__init__()
        self._clock = clock
        self._fast = fast
        self._slow = slow
        self.receives = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.receives += 1
        view = memoryview(buffer).cast("B")
        if self._fast:
            size = min(len(view), len(self._fast))
            view[:size], self._fast = self._fast[:size], self._fast[size:]
            return size
        if not self._slow:
            return 0
        self._clock.now += DRIP
        view[0], self._slow = self._slow[0], self._slow[1:]
        return 1


class ScriptedSocket:
    """The connected socket ``socket.create_connection`` answers, with the TLS context below."""

    def __init__(self, receive: ScriptedReceive) -> None:
        self.receive = receive
        self.sent = bytearray()
        self.timeouts: list[float | None] = []

    def settimeout(self, timeout: float | None) -> None:
        self.timeouts.append(timeout)

    def setsockopt(self, *_: Any) -> None:
        pass

    def makefile(self, mode: str, buffering: int | None = None) -> io.RawIOBase | io.BufferedReader:
        assert mode == "rb"
        return self.receive if buffering == 0 else io.BufferedReader(self.receive)

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def close(self) -> None:
        pass


class NoTLS:
    """Stands in for the SSL context: the scripted socket is the TLS socket."""

    def wrap_socket(self, sock: ScriptedSocket, server_hostname: str | None = None) -> ScriptedSocket:
        assert server_hostname == "cdn.example.com"
        return sock


def through_the_public_handler(
    monkeypatch: pytest.MonkeyPatch, clock: Clock, host: ScriptedSocket, total_timeout: float = 10.0
) -> HttpsMediaFetcher:
    """The fetcher over the real https handler and http.client; only the socket and TLS are faked."""
    monkeypatch.setattr(socket, "create_connection", lambda address, timeout=None, *_: host)
    monkeypatch.setattr(ssl, "create_default_context", NoTLS)
    handler = PublicHTTPSHandler(resolve=lambda host, port: ["93.184.215.14"], read_timeout=READ_TIMEOUT)
    return HttpsMediaFetcher(transport=handler, total_timeout=total_timeout, clock=clock)


PNG_HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n"


def test_the_public_handler_reads_an_answer_through_http_client(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a host that answers at once (the control for the drips below)
    clock = Clock()
    host = ScriptedSocket(
        ScriptedReceive(clock, PNG_HEADERS + f"Content-Length: {len(PNG)}\r\n\r\n".encode() + PNG)
    )

    media = through_the_public_handler(monkeypatch, clock, host)(SOURCE)

    assert media == Media(body=PNG, content_type="image/png")
    assert host.sent.startswith(b"GET /images/cat.png?v=2&token=s3cr3t HTTP/1.1\r\n")
    assert host.timeouts == [READ_TIMEOUT]


@pytest.mark.parametrize(
    ("fast", "slow"),
    [
        (b"", PNG_HEADERS + b"\r\n"),
        (PNG_HEADERS, b"X-Padding: " + b"a" * 1000 + b"\r\n\r\n"),
        (PNG_HEADERS + b"Content-Length: 1000\r\n\r\n", b"x" * 1000),
        (PNG_HEADERS + b"Transfer-Encoding: chunked\r\n\r\n", b"0" * 1000 + b"1\r\nx\r\n0\r\n\r\n"),
    ],
    ids=["status-line", "headers", "body", "chunk-size-line"],
)
def test_a_host_dripping_any_part_of_its_answer_is_cut_off_one_read_timeout_after_the_deadline(
    monkeypatch: pytest.MonkeyPatch, fast: bytes, slow: bytes
) -> None:
    # Given a host that sends part of its answer a byte every 4.9 s, where http.client reads lines
    # (readline receives until the end of the line) or the body
    clock = Clock()
    receive = ScriptedReceive(clock, fast, slow)
    fetch = through_the_public_handler(monkeypatch, clock, ScriptedSocket(receive))

    # When it is fetched
    error = refused(fetch)

    # Then no receive started after the deadline: the fetch ended within one read timeout of it
    assert (error.code, error.retryable) == ("MEDIA_FETCH_FAILED", True)
    assert error.detail == "not fetched within 10 s"
    assert clock.now <= 10.0 + READ_TIMEOUT
    assert receive.receives <= 4


def test_connect_attempts_get_only_the_time_left_and_none_starts_after_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a host with four addresses, each of which lets its connect attempt time out
    clock = Clock()
    attempts: list[tuple[str, float | None]] = []

    def time_out(address: tuple[str, int], timeout: float | None = None, *_: Any) -> socket.socket:
        attempts.append((address[0], timeout))
        clock.now += timeout or 0
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", time_out)
    addresses = ["93.184.215.14", "93.184.215.15", "93.184.215.16", "93.184.215.17"]
    handler = PublicHTTPSHandler(resolve=lambda host, port: addresses, connect_timeout=3.0)
    fetch = HttpsMediaFetcher(transport=handler, total_timeout=7.0, clock=clock)

    # When it is fetched with 7 s in all
    error = refused(fetch)

    # Then the attempts had 3 s, 3 s and the 1 s left; the fourth never started
    assert attempts == [(addresses[0], 3.0), (addresses[1], 3.0), (addresses[2], 1.0)]
    assert (error.code, error.retryable) == ("MEDIA_FETCH_FAILED", True)
    assert error.detail == "not fetched within 7 s"
    assert clock.now == 7.0


def test_no_redirect_is_followed_after_the_deadline() -> None:
    # Given hosts that each take 6 s to answer with a redirect
    clock = Clock()
    hops = ["https://cdn.example.com/hop/1", "https://cdn.example.com/hop/2"]
    fetch, transport = fetcher(
        {SOURCE: redirect(hops[0]), hops[0]: redirect(hops[1]), hops[1]: Answer()}, clock=clock
    )
    answer = transport.https_open

    def slowly(req: urllib.request.Request) -> urllib.response.addinfourl:
        clock.now += 6
        return answer(req)

    transport.https_open = slowly  # type: ignore[method-assign]

    # When it is fetched
    error = refused(fetch)

    # Then the first redirect was followed (at 6 s, with the same headers), the second (at 12 s) not
    assert (error.code, error.retryable) == ("MEDIA_FETCH_FAILED", True)
    assert error.detail == "not fetched within 10 s"
    assert [request.full_url for request in transport.requests] == [SOURCE, hops[0]]
    assert transport.requests[1].get_header("User-agent", "").startswith("AgentMessage")


# -- staging ---------------------------------------------------------------------------------------


def an_s3_client() -> Any:
    return boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture
def s3() -> Any:
    return an_s3_client()


@pytest.fixture
def s3_stub(s3: Any) -> Iterator[Stubber]:
    with Stubber(s3) as stub:
        yield stub
        stub.assert_no_pending_responses()


def fixed(*media: Media) -> Callable[[str], Media]:
    answers = iter(media)
    return lambda url: next(answers)


def expect_put(stub: Stubber, key: str, body: bytes = PNG, content_type: str = "image/png") -> None:
    stub.add_response(
        "put_object",
        {"ETag": '"etag"'},
        expected_params={"Bucket": BUCKET, "Key": key, "Body": body, "ContentType": content_type},
    )


@pytest.mark.parametrize(
    ("content_type", "key"),
    [
        ("image/png", "org_1/msg_1/0.png"),
        ("image/jpeg", "org_1/msg_1/0.jpg"),
        ("video/mp4", "org_1/msg_1/0.mp4"),
        ("audio/mp4", "org_1/msg_1/0.m4a"),
        ("text/vcard", "org_1/msg_1/0.vcf"),
    ],
)
def test_the_key_is_made_from_the_message_the_position_and_the_type(content_type: str, key: str) -> None:
    assert media_key("org_1", "msg_1", 0, content_type) == key


def test_every_aws_type_has_an_extension() -> None:
    assert all(kind.extension.startswith(".") and kind.max_bytes > 0 for kind in MEDIA_TYPES.values())


def test_media_is_put_at_its_key_and_answered_as_an_s3_url(s3: Any, s3_stub: Stubber) -> None:
    expect_put(s3_stub, "org_1/msg_1/0.png")

    urls = MediaStager(s3, BUCKET, fetch=fixed(Media(PNG, "image/png"))).stage(an_mms())

    assert urls == [f"s3://{BUCKET}/org_1/msg_1/0.png"]


def test_a_retry_of_the_same_message_puts_the_same_keys(s3: Any, s3_stub: Stubber) -> None:
    # Given a message with two media, staged twice (a retried dispatch)
    second = "https://cdn.example.com/song.mp3"
    for _ in range(2):
        expect_put(s3_stub, "org_1/msg_1/0.png")
        expect_put(s3_stub, "org_1/msg_1/1.mp3", body=b"ID3", content_type="audio/mpeg")
    stager = MediaStager(s3, BUCKET, fetch=fixed(*[Media(PNG, "image/png"), Media(b"ID3", "audio/mpeg")] * 2))

    first_try = stager.stage(an_mms(SOURCE, second))
    second_try = stager.stage(an_mms(SOURCE, second))

    # Then both tries wrote (and answered) exactly the same objects: overwritten, not duplicated
    assert first_try == second_try == [f"s3://{BUCKET}/org_1/msg_1/0.png", f"s3://{BUCKET}/org_1/msg_1/1.mp3"]


def test_a_fetch_failure_names_the_media_and_puts_nothing(s3: Any, s3_stub: Stubber) -> None:
    fetch, _ = fetcher({SOURCE: Answer(status=404)})

    with pytest.raises(CarrierError) as raised:
        MediaStager(s3, BUCKET, fetch=fetch).stage(an_mms())

    assert (raised.value.code, raised.value.retryable) == ("MEDIA_UNAVAILABLE", False)
    assert raised.value.detail == "media_urls[0]: the media host answered HTTP 404"


def test_a_retryable_fetch_failure_stays_retryable(s3: Any, s3_stub: Stubber) -> None:
    fetch, _ = fetcher({SOURCE: Answer(status=503)})

    with pytest.raises(CarrierError) as raised:
        MediaStager(s3, BUCKET, fetch=fetch).stage(an_mms())

    assert (raised.value.code, raised.value.retryable) == ("MEDIA_FETCH_FAILED", True)


@pytest.mark.parametrize(
    ("error_code", "status", "code", "retryable"),
    [
        ("SlowDown", 503, "MEDIA_STAGING_UNAVAILABLE", True),
        ("InternalError", 500, "MEDIA_STAGING_UNAVAILABLE", True),
        ("ServiceUnavailable", 503, "MEDIA_STAGING_UNAVAILABLE", True),
        ("RequestTimeout", 400, "MEDIA_STAGING_UNAVAILABLE", True),
        ("AccessDenied", 403, "MEDIA_STAGING_REJECTED", False),
        ("NoSuchBucket", 404, "MEDIA_STAGING_REJECTED", False),
    ],
)
def test_an_s3_error_is_mapped(
    s3: Any, s3_stub: Stubber, error_code: str, status: int, code: str, retryable: bool
) -> None:
    s3_stub.add_client_error("put_object", service_error_code=error_code, http_status_code=status)

    with pytest.raises(CarrierError) as raised:
        MediaStager(s3, BUCKET, fetch=fixed(Media(PNG, "image/png"))).stage(an_mms())

    assert (raised.value.code, raised.value.retryable) == (code, retryable)
    assert raised.value.detail == f"S3 {error_code}"


@pytest.mark.parametrize(
    "failure",
    [
        ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"),
        ConnectionClosedError(endpoint_url="https://s3.amazonaws.com"),
        EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"),
    ],
    ids=lambda failure: type(failure).__name__,
)
def test_an_s3_transport_failure_is_retryable_since_the_put_is_idempotent(failure: Exception) -> None:
    s3 = an_s3_client()

    def fail(**_: Any) -> None:
        raise failure

    s3.meta.events.register("before-send.s3.PutObject", fail)

    with pytest.raises(CarrierError) as raised:
        MediaStager(s3, BUCKET, fetch=fixed(Media(PNG, "image/png"))).stage(an_mms())

    assert (raised.value.code, raised.value.retryable) == ("MEDIA_STAGING_UNAVAILABLE", True)


# -- the carrier with real staging: an https URL the API accepts becomes an s3:// URL --------------


@pytest.fixture
def sms_voice() -> "PinpointSMSVoiceV2Client":
    return boto3.client(
        "pinpoint-sms-voice-v2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def accepted_mms() -> OutboundMessage:
    request = parse_send_request(send_body(to=TO, from_=FROM, text=TEXT, channel="mms", media_urls=[SOURCE]))
    return OutboundMessage(
        message_id="msg_1",
        org_id="org_1",
        from_=FROM,
        to=TO,
        text=request.text or "",
        channel="mms",
        media_urls=tuple(request.media_urls or ()),
    )


def test_an_accepted_https_media_url_is_staged_then_sent_as_an_s3_url(
    s3: Any, s3_stub: Stubber, sms_voice: "PinpointSMSVoiceV2Client"
) -> None:
    # Given an MMS the API accepted with an https media URL, and the media host serving a png
    message = accepted_mms()
    assert message.media_urls == (SOURCE,)
    fetch, _ = fetcher({SOURCE: Answer()})
    stager = MediaStager(s3, BUCKET, fetch=fetch)
    expect_put(s3_stub, "org_1/msg_1/0.png")

    with Stubber(sms_voice) as send_stub:
        send_stub.add_response(
            "send_media_message",
            {"MessageId": "aws-1"},
            expected_params={
                "DestinationPhoneNumber": TO,
                "OriginationIdentity": FROM,
                "MessageBody": TEXT,
                "MediaUrls": [f"s3://{BUCKET}/org_1/msg_1/0.png"],
                "Context": {"message_id": "msg_1", "org_id": "org_1"},
            },
        )

        # When the live carrier sends it
        result = EndUserMessagingCarrier(sms_voice, stage_media=stager.stage).send(message)

        # Then the media was put in the bucket, and AWS was given its s3:// URL
        send_stub.assert_no_pending_responses()
    assert result == SendResult(provider_message_id="aws-1", delivered=False)


def test_when_staging_fails_the_carrier_is_never_called(
    s3: Any, s3_stub: Stubber, sms_voice: "PinpointSMSVoiceV2Client"
) -> None:
    s3_stub.add_client_error("put_object", service_error_code="SlowDown", http_status_code=503)
    fetch, _ = fetcher({SOURCE: Answer()})
    calls: list[str] = []
    sms_voice.meta.events.register(
        "before-call.pinpoint-sms-voice-v2.SendMediaMessage", lambda **_: calls.append("send")
    )

    with pytest.raises(CarrierError) as raised:
        EndUserMessagingCarrier(sms_voice, stage_media=MediaStager(s3, BUCKET, fetch=fetch).stage).send(
            accepted_mms()
        )

    assert (raised.value.code, raised.value.retryable) == ("MEDIA_STAGING_UNAVAILABLE", True)
    assert calls == []


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/café.png",
        "https://example.com/cat.png?q=é",
        f"https://{'a' * 64}.com/x.png",
        "https://a..com/x.png",
    ],
)
def test_a_url_the_standard_library_cannot_request_fails_the_mms_without_sending(
    s3: Any, s3_stub: Stubber, sms_voice: "PinpointSMSVoiceV2Client", url: str
) -> None:
    # Given the live carrier with real staging: the real fetcher and https handler (each URL
    # here made http.client or the IDNA codec raise a UnicodeError, which escaped the carrier)
    def resolve(host: str, port: int) -> list[str]:
        raise AssertionError("the URL should be refused before any lookup")

    fetch = HttpsMediaFetcher(transport=PublicHTTPSHandler(resolve=resolve))
    carrier = EndUserMessagingCarrier(sms_voice, stage_media=MediaStager(s3, BUCKET, fetch=fetch).stage)

    # When an MMS with such a URL is sent (neither Stubber holds a response: no put, no send)
    with Stubber(sms_voice) as send_stub, pytest.raises(CarrierError) as raised:
        carrier.send(an_mms(url))
    send_stub.assert_no_pending_responses()

    # Then it fails for good, with a carrier error the dispatcher records, naming no URL
    assert (raised.value.code, raised.value.retryable) == ("MEDIA_URL_NOT_ALLOWED", False)
    assert raised.value.detail.startswith("media_urls[0]: ")
    assert url not in raised.value.detail


def test_the_dispatchers_s3_client_puts_once_with_short_timeouts() -> None:
    from agentmessage import aws_clients

    # Given the dispatcher's own S3 client, whose every put times out
    client: Any = aws_clients.s3()
    attempts: list[str] = []

    def time_out(request: Any, **_: Any) -> None:
        attempts.append(request.url)
        raise ReadTimeoutError(endpoint_url=request.url)

    client.meta.events.register("before-send.s3.PutObject", time_out)

    # When media is staged with it
    with pytest.raises(CarrierError) as raised:
        MediaStager(client, BUCKET, fetch=fixed(Media(PNG, "image/png"))).stage(an_mms())

    # Then botocore tried once (the release and a later dispatch retry it), within 2 s + 5 s
    assert len(attempts) == 1
    assert (raised.value.code, raised.value.retryable) == ("MEDIA_STAGING_UNAVAILABLE", True)
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (2, 5)


# -- cold start ------------------------------------------------------------------------------------


def test_no_function_imports_the_media_code_or_makes_an_s3_client_at_import() -> None:
    # Every function's module, imported as Lambda would at init, in a fresh interpreter
    names = sorted(path.parent.name for path in (ROOT / "functions").glob("*/app.py"))
    script = (
        "import sys\n"
        "from agentmessage import aws_clients\n"
        f"for name in {names!r}:\n"
        "    __import__(f'functions.{name}.app')\n"
        "assert 'agentmessage.carriers.media' not in sys.modules, 'media imported'\n"
        "assert aws_clients.s3.cache_info().currsize == 0, 's3 client made'\n"
    )
    environment = {
        "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'common'}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "agentmessage",
        "POWERTOOLS_METRICS_NAMESPACE": "AgentMessage",
    }

    completed = subprocess.run(  # noqa: S603 - this interpreter, our own script
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert len(names) >= 6
    assert completed.returncode == 0, completed.stderr[-2000:]


@contextmanager
def _live_cleared(dispatch_app: Any) -> Iterator[None]:
    """The dispatcher's cached live carrier, forgotten after the test (it holds fake clients)."""
    try:
        yield
    finally:
        dispatch_app._live.cache_clear()


def test_the_live_carrier_stages_in_the_configured_bucket_and_makes_s3_only_for_an_mms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agentmessage import aws_clients
    from agentmessage.carriers import media
    from functions.dispatch import app as dispatch_app

    # Given the dispatcher's environment, its AWS clients stubbed, and the media host faked
    for name, value in {
        "MESSAGES_TABLE": "messages",
        "SMS_PRICE_PER_PART": "0.0079",
        "MMS_PRICE_PER_PART": "0.0200",
        "MEDIA_BUCKET": BUCKET,
    }.items():
        monkeypatch.setenv(name, value)
    s3 = an_s3_client()
    made: list[str] = []

    def make_s3() -> Any:
        made.append("s3")
        return s3

    sms_voice_client = boto3.client("pinpoint-sms-voice-v2", region_name="us-east-1")
    dispatch_app._live.cache_clear()
    # Undone before the shared fixtures clear the real factories' caches
    with pytest.MonkeyPatch.context() as patch, _live_cleared(dispatch_app):
        patch.setattr(aws_clients, "sms_voice", lambda: sms_voice_client)
        patch.setattr(aws_clients, "s3", make_s3)
        patch.setattr(media, "HttpsMediaFetcher", lambda: fixed(Media(PNG, "image/png")))
        with Stubber(sms_voice_client) as send_stub, Stubber(s3) as s3_stub:
            send_stub.add_response("send_text_message", {"MessageId": "aws-1"})
            expect_put(s3_stub, "org_1/msg_1/0.png")
            send_stub.add_response(
                "send_media_message",
                {"MessageId": "aws-2"},
                expected_params={
                    "DestinationPhoneNumber": TO,
                    "OriginationIdentity": FROM,
                    "MessageBody": TEXT,
                    "MediaUrls": [f"s3://{BUCKET}/org_1/msg_1/0.png"],
                    "Context": {"message_id": "msg_1", "org_id": "org_1"},
                },
            )

            # When the live carrier sends an SMS, then an MMS
            carrier = dispatch_app._live()
            carrier.send(OutboundMessage("msg_1", "org_1", FROM, TO, TEXT, "sms"))
            made_for_sms = list(made)
            carrier.send(an_mms())

            # Then the SMS made no S3 client; the MMS did, and staged in the configured bucket
            send_stub.assert_no_pending_responses()
            s3_stub.assert_no_pending_responses()
    assert made_for_sms == []
    assert made == ["s3"]
