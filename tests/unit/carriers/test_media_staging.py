"""MMS media staging: https media fetched within AWS's limits, put in the media bucket, as an s3:// URL.

What the public-hosts client does (addresses, redirects, the deadline, the body cap) is
``tests/unit/net``; here is what media makes of it: its request, its type and size checks, its
``MEDIA_*`` codes, its time budget, and the S3 put. No network: the client's handler is replaced by
``FakeHttps``, or the real one runs with a fake resolver and socket; S3 is a botocore Stubber.
"""

import http.client
import io
import socket
import ssl
from collections.abc import Callable, Iterator
from typing import Any
from urllib.error import URLError

import boto3
import pytest
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber

from agentmessage.carriers.base import CarrierError, OutboundMessage
from agentmessage.carriers.media import MEDIA_TYPES, HttpsMediaFetcher, Media, MediaStager, media_key
from agentmessage.domain.rules import is_https_url
from agentmessage.integration.time_budget import (
    MEDIA_FETCH_READ,
    MEDIA_FETCH_SECONDS,
    MEDIA_FETCH_TOTAL,
    MEDIA_PUT,
)
from agentmessage.net.transport import PublicHTTPSHandler
from tests.support.http_fakes import PNG, Answer, FakeHttps, redirect

BUCKET = "agentmessage-media-123456789012-us-east-1-dev"
SOURCE = "https://cdn.example.com/images/cat.png?v=2&token=s3cr3t"
PUBLIC = "93.184.215.14"


def an_mms(*media_urls: str) -> OutboundMessage:
    return OutboundMessage(
        message_id="msg_1",
        org_id="org_1",
        from_="+15555550100",
        to="+15555550123",
        text="Your code is 123456",
        channel="mms",
        media_urls=media_urls or (SOURCE,),
    )


# -- a transport that answers without a network ---------------------------------------------------


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


# -- URLs the client refuses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("http://cdn.example.com/cat.png", "not an https URL"),
        ("file:///etc/passwd", "not an https URL"),
        ("https://169.254.169.254/latest/meta-data/", "the host is an IP address, not a domain name"),
        ("https://localhost/cat.png", "the host is local"),
        ("https://2130706433/cat.png", "the host is not a public domain name"),
        ("https://user:password@cdn.example.com/cat.png", "the URL carries credentials"),
        ("https://cdn.example.com:99999/cat.png", "the URL has an invalid port"),
        (
            "https://cdn.example.com/cat.png\r\nX-Injected: 1",
            "the URL holds whitespace or control characters",
        ),
        ("https://example.com/café.png", "the URL is not ASCII"),
        ("https://a..com/x.png", "the host is not a valid domain name"),
    ],
)
def test_an_unsafe_url_is_refused_without_a_request(url: str, detail: str) -> None:
    fetch, transport = fetcher({})

    error = refused(fetch, url)

    assert (error.code, error.retryable, error.detail) == ("MEDIA_URL_NOT_ALLOWED", False, detail)
    assert transport.requests == []


@pytest.mark.parametrize("addresses", [["10.1.2.3"], ["::1"], [PUBLIC, "169.254.169.254"], []])
def test_a_host_that_resolves_to_a_non_public_address_is_refused_before_connecting(
    addresses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a public-looking name whose DNS answer is not public (or empty)
    connects: list[Any] = []
    monkeypatch.setattr(socket, "create_connection", lambda *args, **kwargs: connects.append(args))
    handler = PublicHTTPSHandler(resolve=lambda host, port: addresses, read_timeout=MEDIA_FETCH_READ)

    # When it is fetched, through the real https handler
    error = refused(HttpsMediaFetcher(transport=handler))

    # Then it is refused for good, never connected to
    assert (error.code, error.retryable) == ("MEDIA_URL_NOT_ALLOWED", False)
    assert error.detail == "the host resolves to a non-public address"
    assert connects == []


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
    assert error.detail == f"{limit + 1} bytes of {content_type}; at most {limit}"
    assert answer.served[0].bytes_read == 0


@pytest.mark.parametrize(("content_type", "limit"), [("image/jpeg", 2_000_000), ("audio/mpeg", 600_000)])
def test_an_undeclared_body_is_read_no_further_than_one_byte_past_the_limit(
    content_type: str, limit: int
) -> None:
    answer = Answer(headers={"Content-Type": content_type}, body=b"x" * (limit * 3))
    fetch, _ = fetcher({SOURCE: answer})

    error = refused(fetch)

    assert (error.code, error.retryable) == ("MEDIA_TOO_LARGE", False)
    assert error.detail == f"more than {limit} bytes of {content_type}"
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
        (304, "MEDIA_UNAVAILABLE", False),
        (408, "MEDIA_FETCH_FAILED", True),
        (425, "MEDIA_FETCH_FAILED", True),
        (429, "MEDIA_FETCH_FAILED", True),
        (500, "MEDIA_FETCH_FAILED", True),
        (502, "MEDIA_FETCH_FAILED", True),
        (503, "MEDIA_FETCH_FAILED", True),
    ],
)
def test_an_http_error_is_permanent_for_4xx_and_retryable_for_5xx(
    status: int, code: str, retryable: bool
) -> None:
    answer = Answer(status=status, headers={"Content-Type": "text/html"}, body=b"<h1>no</h1>")
    fetch, _ = fetcher({SOURCE: answer})

    error = refused(fetch)

    assert (error.code, error.retryable) == (code, retryable)
    assert str(status) in error.detail
    assert answer.served[0].bytes_read == 0


def test_an_https_redirect_to_a_public_host_is_followed_with_the_same_headers() -> None:
    target = "https://media.example.net/cat.png"
    fetch, transport = fetcher({SOURCE: redirect(target, 301), target: Answer()})

    assert fetch(SOURCE) == Media(body=PNG, content_type="image/png")
    assert [request.full_url for request in transport.requests] == [SOURCE, target]
    assert transport.requests[1].get_header("User-agent", "").startswith("AgentMessage")
    assert transport.requests[1].get_header("Accept") == transport.requests[0].get_header("Accept")


@pytest.mark.parametrize(
    ("location", "detail"),
    [
        ("http://cdn.example.com/cat.png", "redirected: not an https URL"),
        (
            "https://169.254.169.254/latest/meta-data/",
            "redirected: the host is an IP address, not a domain name",
        ),
        ("https://localhost/cat.png", "redirected: the host is local"),
        ("file:///etc/passwd", "redirected: not an https URL"),
    ],
)
def test_a_redirect_to_an_unsafe_url_is_refused_without_following_it(location: str, detail: str) -> None:
    fetch, transport = fetcher({SOURCE: redirect(location)})

    error = refused(fetch)

    assert (error.code, error.retryable, error.detail) == ("MEDIA_URL_NOT_ALLOWED", False, detail)
    assert [request.full_url for request in transport.requests] == [SOURCE]


@pytest.mark.parametrize(
    "answer", [redirect("https://cdn.example.com/hop/0"), Answer(status=302, headers={})]
)
def test_too_many_redirects_or_one_without_a_target_are_refused(answer: Answer) -> None:
    # Given a host that redirects every URL to the next one (or once, to nowhere)
    hops = [f"https://cdn.example.com/hop/{number}" for number in range(6)]
    answers: dict[str, Answer | BaseException] = {SOURCE: answer}
    answers |= {hop: redirect(hops[number + 1]) for number, hop in enumerate(hops[:-1])}
    fetch, transport = fetcher(answers)

    # When it is fetched
    error = refused(fetch)

    # Then it is refused for good after the URL and at most 3 redirects
    assert (error.code, error.retryable) == ("MEDIA_UNAVAILABLE", False)
    assert error.detail == "HTTP 302: too many redirects, or one without a target"
    assert len(transport.requests) == (4 if answer.headers else 1)


@pytest.mark.parametrize(
    ("failure", "code", "retryable", "detail"),
    [
        (
            URLError(TimeoutError("timed out")),
            "MEDIA_FETCH_FAILED",
            True,
            "TimeoutError reaching the media host",
        ),
        (
            URLError(ConnectionResetError("reset")),
            "MEDIA_FETCH_FAILED",
            True,
            "ConnectionResetError reaching the media host",
        ),
        (
            URLError(socket.gaierror(socket.EAI_AGAIN, "try again")),
            "MEDIA_FETCH_FAILED",
            True,
            "gaierror reaching the media host",
        ),
        (URLError("no reason"), "MEDIA_FETCH_FAILED", True, "connection error reaching the media host"),
        (
            URLError(socket.gaierror(socket.EAI_NONAME, "not known")),
            "MEDIA_UNAVAILABLE",
            False,
            "the media host does not exist",
        ),
        (
            URLError(ssl.SSLCertVerificationError("hostname mismatch")),
            "MEDIA_UNAVAILABLE",
            False,
            "the media host's TLS certificate did not verify",
        ),
        (
            TimeoutError("read timed out"),
            "MEDIA_FETCH_FAILED",
            True,
            "TimeoutError while reading",
        ),  # getresponse
        (
            http.client.RemoteDisconnected("closed"),
            "MEDIA_FETCH_FAILED",
            True,
            "RemoteDisconnected while reading",
        ),
    ],
    ids=[
        "timeout",
        "reset",
        "dns-again",
        "no-reason",
        "no-such-host",
        "bad-certificate",
        "read-timeout",
        "disconnected",
    ],
)
def test_a_connection_failure_is_mapped(
    failure: BaseException, code: str, retryable: bool, detail: str
) -> None:
    fetch, _ = fetcher({SOURCE: failure})

    error = refused(fetch)

    assert (error.code, error.retryable, error.detail) == (code, retryable, detail)


def test_a_read_timeout_in_the_body_is_retryable() -> None:
    fetch, _ = fetcher({SOURCE: Answer(body=b"x" * 200_000, fail_after=65_536)})

    error = refused(fetch)

    assert (error.code, error.retryable, error.detail) == (
        "MEDIA_FETCH_FAILED",
        True,
        "TimeoutError while reading",
    )


@pytest.mark.parametrize(
    ("failure", "detail"),
    [
        (
            UnicodeEncodeError("ascii", "GET /caf\u00e9.png HTTP/1.1", 8, 9, "ordinal not in range(128)"),
            "UnicodeEncodeError: the URL cannot be requested",
        ),
        (
            UnicodeError("encoding with 'idna' codec failed (UnicodeError: label empty or too long)"),
            "UnicodeError: the URL cannot be requested",
        ),
        (ValueError("unknown url type"), "ValueError: the URL cannot be requested"),
        (http.client.InvalidURL("nonnumeric port"), "the URL is not valid"),
    ],
    ids=["UnicodeEncodeError", "UnicodeError", "ValueError", "InvalidURL"],
)
def test_an_error_encoding_the_request_is_a_permanent_url_error(failure: Exception, detail: str) -> None:
    # Given http.client or the IDNA codec fails on a URL that the URL checks let through
    fetch, _ = fetcher({SOURCE: failure})

    error = refused(fetch)

    # Then it is refused for good, naming the error's type (never its text: it holds the URL)
    assert (error.code, error.retryable, error.detail) == ("MEDIA_URL_NOT_ALLOWED", False, detail)


def test_a_body_that_trickles_past_the_total_deadline_is_retryable() -> None:
    # Given a clock that moves 4 s per look, and a 10 s deadline over a body of many chunks
    ticks = iter(range(0, 1000, 4))
    fetch, _ = fetcher({SOURCE: Answer(body=b"x" * 500_000)}, total_timeout=10.0, clock=lambda: next(ticks))

    # When it is fetched
    error = refused(fetch)

    # Then it failed on the fetch's deadline, worth another try
    assert (error.code, error.retryable, error.detail) == (
        "MEDIA_FETCH_FAILED",
        True,
        "not fetched within 10 s",
    )


# -- the fetch's time budget ----------------------------------------------------------------------


class Clock:
    """The fetcher's monotonic clock, moved only by the media host's waits."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ScriptedHost(io.RawIOBase):
    """A media host's connection: ``fast`` sent at once, then ``slow`` a byte every 4.9 s.

    It is also the connected socket, and its own TLS context, as http.client uses them.
    """

    def __init__(self, clock: Clock, fast: bytes, slow: bytes = b"") -> None:
        super().__init__()
        self._clock = clock
        self._fast = fast
        self._slow = slow
        self.timeouts: list[float | None] = []

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._fast:
            size = min(len(view), len(self._fast))
            view[:size], self._fast = self._fast[:size], self._fast[size:]
            return size
        if not self._slow:
            return 0
        self._clock.now += 4.9
        view[0], self._slow = self._slow[0], self._slow[1:]
        return 1

    def settimeout(self, timeout: float | None) -> None:
        self.timeouts.append(timeout)

    def setsockopt(self, *_: Any) -> None:
        pass

    def makefile(self, mode: str, buffering: int | None = None) -> io.RawIOBase | io.BufferedReader:
        return self if buffering == 0 else io.BufferedReader(self)

    def sendall(self, data: bytes) -> None:
        pass

    def wrap_socket(self, sock: Any, server_hostname: str | None = None) -> Any:
        assert server_hostname == "cdn.example.com"
        return sock


def with_default_transport(monkeypatch: pytest.MonkeyPatch, host: ScriptedHost) -> list[float | None]:
    """The system resolver answers a public address; each connect gets ``host``; its timeouts kept."""
    connect_timeouts: list[float | None] = []

    def connect(address: tuple[str, int], timeout: float | None = None, *_: Any) -> ScriptedHost:
        assert address == (PUBLIC, 443)
        connect_timeouts.append(timeout)
        return host

    public = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC, 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: public)
    monkeypatch.setattr(socket, "create_connection", connect)
    monkeypatch.setattr(ssl, "create_default_context", lambda: host)
    return connect_timeouts


PNG_HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n"


def test_by_default_a_fetch_connects_for_3_s_and_reads_with_the_media_read_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the media host answering at once, through the default handler and resolver
    clock = Clock()
    host = ScriptedHost(clock, PNG_HEADERS + f"Content-Length: {len(PNG)}\r\n\r\n".encode() + PNG)
    connect_timeouts = with_default_transport(monkeypatch, host)

    # When a fetcher made with its defaults fetches it
    media = HttpsMediaFetcher(clock=clock)(SOURCE)

    # Then the connect had 3 s (less than the total), and each receive the media read timeout
    assert media == Media(body=PNG, content_type="image/png")
    assert connect_timeouts == [3.0]
    assert host.timeouts == [MEDIA_FETCH_READ]


def test_by_default_a_fetch_ends_within_the_media_fetch_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the media host dripping a png's body a byte every 4.9 s
    clock = Clock()
    host = ScriptedHost(clock, PNG_HEADERS + b"Content-Length: 1000\r\n\r\n", b"x" * 1000)
    with_default_transport(monkeypatch, host)

    # When a fetcher made with its defaults fetches it
    error = refused(HttpsMediaFetcher(clock=clock))

    # Then it gave up on the total deadline, within the time the dispatcher reserves for it
    assert (error.code, error.retryable) == ("MEDIA_FETCH_FAILED", True)
    assert error.detail == f"not fetched within {MEDIA_FETCH_TOTAL:g} s"
    assert MEDIA_FETCH_TOTAL <= clock.now <= MEDIA_FETCH_SECONDS


# -- staging ---------------------------------------------------------------------------------------


def an_s3_client() -> Any:
    """An S3 client with the media put's limits, as the dispatcher's is made."""
    return boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=MEDIA_PUT.config,
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


def test_an_accepted_https_media_url_is_fetched_and_staged_as_an_s3_url(s3: Any, s3_stub: Stubber) -> None:
    # Given a media URL the API accepts, and its host serving a png
    assert is_https_url(SOURCE)
    fetch, transport = fetcher({SOURCE: Answer()})
    expect_put(s3_stub, "org_1/msg_1/0.png")

    # When the message's media is staged with the real fetcher
    urls = MediaStager(s3, BUCKET, fetch=fetch).stage(an_mms(SOURCE))

    # Then the png was fetched from it and put in the bucket, and its s3:// URL is what AWS gets
    assert [request.full_url for request in transport.requests] == [SOURCE]
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
    "url",
    [
        "https://example.com/café.png",
        "https://example.com/cat.png?q=é",
        f"https://{'a' * 64}.com/x.png",
        "https://a..com/x.png",
    ],
)
def test_a_url_the_standard_library_cannot_request_fails_the_staging_for_good(
    s3: Any, s3_stub: Stubber, url: str
) -> None:
    # Given real staging: the real fetcher and https handler (each URL here made http.client or
    # the IDNA codec raise a UnicodeError, which once escaped the carrier)
    def resolve(host: str, port: int) -> list[str]:
        raise AssertionError("the URL should be refused before any lookup")

    fetch = HttpsMediaFetcher(transport=PublicHTTPSHandler(resolve=resolve, read_timeout=MEDIA_FETCH_READ))

    # When an MMS with such a URL is staged (the Stubber holds no response: no put)
    with pytest.raises(CarrierError) as raised:
        MediaStager(s3, BUCKET, fetch=fetch).stage(an_mms(url))

    # Then it fails for good, with a carrier error the dispatcher records, naming no URL
    assert (raised.value.code, raised.value.retryable) == ("MEDIA_URL_NOT_ALLOWED", False)
    assert raised.value.detail.startswith("media_urls[0]: ")
    assert url not in raised.value.detail


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
    # Given an S3 client with the media put's limits, whose every put attempt fails in transport
    s3 = an_s3_client()
    attempts: list[str] = []

    def fail(request: Any, **_: Any) -> None:
        attempts.append(request.url)
        raise failure

    s3.meta.events.register("before-send.s3.PutObject", fail)

    # When media is staged with it
    with pytest.raises(CarrierError) as raised:
        MediaStager(s3, BUCKET, fetch=fixed(Media(PNG, "image/png"))).stage(an_mms())

    # Then botocore tried once (a later dispatch retries it), and it is worth retrying
    assert (raised.value.code, raised.value.retryable) == ("MEDIA_STAGING_UNAVAILABLE", True)
    assert len(attempts) == 1
    assert (s3.meta.config.connect_timeout, s3.meta.config.read_timeout) == (
        MEDIA_PUT.connect,
        MEDIA_PUT.read,
    )
