"""The public-hosts HTTP client: what it may reach, its redirects, its deadline, its body cap, its errors.

No network: the client runs with its handler replaced by ``FakeHttps``, or with the real handler,
a fake resolver, and (where http.client must read an answer) a scripted socket without TLS.
"""

import http.client
import io
import itertools
import socket
import ssl
import urllib.request
import urllib.response
from collections.abc import Callable
from typing import Any
from urllib.error import URLError

import pytest

from agentmessage.net.errors import Failed, Failure, NetError, Refused
from agentmessage.net.policy import Policy, address_allowed, check_url
from agentmessage.net.public_https import PublicHttpsClient, Response
from tests.support.http_fakes import PNG as BODY
from tests.support.http_fakes import Answer, FakeHttps, redirect

SOURCE = "https://cdn.example.com/images/cat.png?v=2&token=s3cr3t"
READ_TIMEOUT = 5.0
DRIP = 4.9  # a byte every 4.9 s: no single receive ever reaches the 5 s read timeout
PUBLIC = "93.184.215.14"
FOLLOW = Policy(max_redirects=3)
LOOPBACK = Policy(schemes=frozenset({"http", "https"}), allow_loopback=True)


# -- a transport that answers without a network ---------------------------------------------------


def client(answers: dict[str, Answer | BaseException], **options: Any) -> tuple[PublicHttpsClient, FakeHttps]:
    transport = FakeHttps(answers)
    options = {"total_timeout": 10.0, "read_timeout": READ_TIMEOUT} | options
    return PublicHttpsClient(transport=transport, **options), transport


def get(http: PublicHttpsClient, url: str = SOURCE, max_bytes: int = 2_000_000) -> Response:
    return http.request("GET", url, max_bytes=max_bytes, headers={"User-Agent": "test-agent/1"})


def raised[E: NetError](kind: type[E], call: Callable[[], object], url: str = SOURCE) -> E:
    with pytest.raises(kind) as caught:
        call()
    error = caught.value
    # A URL may carry a token: no error repeats it
    assert url not in error.detail
    assert "s3cr3t" not in error.detail
    return error


# -- what may be reached: URLs -------------------------------------------------------------------


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
    check_url(url, Policy())


UNSAFE_URLS = [
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
]


@pytest.mark.parametrize("url", UNSAFE_URLS)
def test_an_unsafe_url_is_refused_without_a_request(url: str) -> None:
    http, transport = client({})

    error = raised(Refused, lambda: get(http, url), url)

    assert error.retryable is False
    assert transport.requests == []


@pytest.mark.parametrize(
    ("url", "policy", "detail"),
    [
        ("http://cdn.example.com/cat.png", Policy(), "not an https URL"),
        ("ftp://cdn.example.com/cat.png", LOOPBACK, "not an http or https URL"),
        ("https://10.0.0.8/cat.png", Policy(), "the host is an IP address, not a domain name"),
        ("https://localhost/cat.png", Policy(), "the host is local"),
        ("https://intranet/cat.png", Policy(), "the host is not a public domain name"),
    ],
)
def test_a_refused_url_names_the_reason(url: str, policy: Policy, detail: str) -> None:
    with pytest.raises(Refused) as caught:
        check_url(url, policy)

    assert caught.value.detail == detail


def test_an_http_url_is_requested_only_where_the_policy_allows_http() -> None:
    # Given a receiver on plain http, and clients with the default policy and with http allowed
    url = "http://hooks.example.com/receive"
    answers: dict[str, Answer | BaseException] = {url: Answer(status=204, body=b"")}
    default, default_transport = client(answers)
    allowing, allowing_transport = client(answers, policy=Policy(schemes=frozenset({"http", "https"})))

    # When each posts to it
    error = raised(Refused, lambda: default.request("POST", url, max_bytes=0, body=b"{}"), url)
    response = allowing.request("POST", url, max_bytes=0, body=b"{}")

    # Then only the one whose policy allows http sent it
    assert error.detail == "not an https URL"
    assert default_transport.requests == []
    assert response.status == 204
    assert [request.full_url for request in allowing_transport.requests] == [url]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://127.9.9.9:8080/hook",
        "https://[::1]:8443/hook",
        "http://localhost:8080/hook",
        "http://[::ffff:127.0.0.1]:8080/hook",
    ],
)
def test_loopback_urls_are_allowed_only_under_allow_loopback(url: str) -> None:
    check_url(url, LOOPBACK)
    check_url(SOURCE, LOOPBACK)  # as public names are
    with pytest.raises(Refused):
        check_url(url, Policy(schemes=frozenset({"http", "https"})))


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.8/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0/hook",
        "http://2130706433/hook",  # numeric forms are still not IP literals, nor public names
        "http://127.1/hook",
        "http://intranet/hook",
    ],
)
def test_allow_loopback_allows_no_other_address_or_name(url: str) -> None:
    with pytest.raises(Refused):
        check_url(url, LOOPBACK)


@pytest.mark.parametrize("schemes", [frozenset(), frozenset({"ftp"}), frozenset({"https", "file"})])
def test_a_policy_allows_only_http_and_https(schemes: frozenset[str]) -> None:
    with pytest.raises(ValueError, match="schemes"):
        Policy(schemes=schemes)


# -- what may be reached: the addresses connected to ----------------------------------------------


NON_PUBLIC_ANSWERS = [
    ["127.0.0.1"],
    ["10.1.2.3"],
    ["192.168.0.10"],
    ["169.254.169.254"],
    ["100.64.0.1"],  # shared address space
    ["::1"],
    ["fd00::1"],
    ["::ffff:127.0.0.1"],
    [PUBLIC, "10.1.2.3"],  # one private answer is enough to refuse
    [],
]


def connecting(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Connect attempts, recorded and each refused by the host."""
    connects: list[tuple[Any, ...]] = []

    def refuse(address: tuple[str, int], timeout: float | None = None, *_: Any) -> socket.socket:
        connects.append((address, timeout))
        raise ConnectionRefusedError("refused")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return connects


def real(resolve: Callable[[str, int], list[str]], **options: Any) -> PublicHttpsClient:
    """The client over its own handler, with a fake resolver."""
    options = {"total_timeout": 10.0, "read_timeout": READ_TIMEOUT} | options
    return PublicHttpsClient(resolve=resolve, **options)


@pytest.mark.parametrize("addresses", NON_PUBLIC_ANSWERS)
def test_a_host_that_resolves_to_a_non_public_address_is_refused_before_connecting(
    addresses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a public-looking name whose DNS answer is private (or empty)
    connects = connecting(monkeypatch)

    # When it is requested, through the real handler
    error = raised(Refused, lambda: get(real(lambda host, port: addresses)))

    # Then it is refused at connect time, on the addresses it would connect to
    assert error.detail == "the host resolves to a non-public address"
    assert connects == []


def test_a_public_address_is_connected_to_with_the_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a name that resolves to a public address, whose server refuses the connection
    connects = connecting(monkeypatch)
    resolved: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        resolved.append((host, port))
        return [PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]

    # When it is requested
    error = raised(Failed, lambda: get(real(resolve, connect_timeout=2.5)))

    # Then each resolved address was tried (the name itself never re-resolved), and a refused
    # connection is worth another try later
    assert resolved == [("cdn.example.com", 443)]
    assert connects == [((PUBLIC, 443), 2.5), (("2606:2800:21f:cb07:6820:80da:af6b:8b2c", 443), 2.5)]
    assert (error.kind, error.retryable, error.error_type) == (
        Failure.CONNECTION,
        True,
        "ConnectionRefusedError",
    )


@pytest.mark.parametrize(
    ("url", "addresses", "port"),
    [
        ("http://127.0.0.1:8080/hook", ["127.0.0.1"], 8080),
        ("http://localhost:8080/hook", ["::1", "127.0.0.1"], 8080),
        ("https://hooks.example.com/hook", ["127.0.0.2"], 443),
    ],
)
def test_under_allow_loopback_a_loopback_address_is_connected_to(
    url: str, addresses: list[str], port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a developer's receiver on this machine, not listening
    connects = connecting(monkeypatch)

    # When it is posted to under allow_loopback
    http = real(lambda host, p: addresses, policy=LOOPBACK)
    error = raised(Failed, lambda: http.request("POST", url, max_bytes=0, body=b"{}"), url)

    # Then its loopback addresses were connected to (and refused)
    assert [address for address, _ in connects] == [(each, port) for each in addresses]
    assert error.kind is Failure.CONNECTION


@pytest.mark.parametrize(
    "addresses",
    [each for each in NON_PUBLIC_ANSWERS if each not in (["127.0.0.1"], ["::1"], ["::ffff:127.0.0.1"])],
)
def test_under_allow_loopback_any_other_non_public_address_is_still_refused(
    addresses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    connects = connecting(monkeypatch)
    http = real(lambda host, port: addresses, policy=LOOPBACK)

    error = raised(Refused, lambda: get(http))

    assert error.detail == "the host resolves to a non-public address"
    assert connects == []


@pytest.mark.parametrize(
    ("address", "default", "loopback"),
    [
        (PUBLIC, True, True),
        ("127.0.0.1", False, True),
        ("127.255.0.9", False, True),
        ("::1", False, True),
        ("::ffff:127.0.0.1", False, True),
        ("10.0.0.1", False, False),
        ("169.254.169.254", False, False),
        ("fe80::1%eth0", False, False),
        ("224.0.0.1", False, False),
        ("0.0.0.0", False, False),  # noqa: S104 - an address checked, not bound
    ],
)
def test_which_addresses_each_policy_connects_to(address: str, default: bool, loopback: bool) -> None:
    assert address_allowed(address, Policy()) is default
    assert address_allowed(address, LOOPBACK) is loopback


# -- requests and responses -----------------------------------------------------------------------


def test_a_get_sends_the_callers_headers_and_answers_the_response() -> None:
    http, transport = client({SOURCE: Answer(headers={"Content-Type": "image/png", "ETag": '"1"'})})

    response = get(http)

    assert (response.status, response.body, response.truncated) == (200, BODY, False)
    assert response.headers["ETag"] == '"1"'
    (request,) = transport.requests
    assert request.get_method() == "GET"
    assert request.data is None
    assert request.get_header("User-agent") == "test-agent/1"


def test_a_post_sends_its_body_and_headers() -> None:
    url = "https://hooks.example.com/receive?sig=s3cr3t"
    http, transport = client({url: Answer(status=202, headers={}, body=b"ok")})

    response = http.request(
        "POST", url, max_bytes=100, headers={"Content-Type": "application/json"}, body=b'{"id": 1}'
    )

    assert (response.status, response.body) == (202, b"ok")
    (request,) = transport.requests
    assert (request.get_method(), request.data) == ("POST", b'{"id": 1}')
    assert request.get_header("Content-type") == "application/json"


@pytest.mark.parametrize("status", [200, 201, 204, 300, 304, 400, 404, 408, 410, 425, 429, 500, 503])
def test_every_status_is_a_response_with_its_headers_and_body(status: int) -> None:
    # Given a host that answers the status, with a Retry-After and a body
    answer = Answer(status=status, headers={"Retry-After": "7"}, body=b"<h1>status</h1>")
    http, _ = client({SOURCE: answer})

    # When it is requested
    response = get(http)

    # Then the caller has the status to decide on, nothing raised
    assert (response.status, response.headers["Retry-After"], response.body) == (
        status,
        "7",
        b"<h1>status</h1>",
    )


@pytest.mark.parametrize("method", ["PUT", "DELETE", "HEAD"])
def test_only_get_and_post_are_sent(method: Any) -> None:
    http, transport = client({})

    with pytest.raises(ValueError, match="GET and POST"):
        http.request(method, SOURCE, max_bytes=0)
    assert transport.requests == []


# -- the body cap ---------------------------------------------------------------------------------


def test_a_body_over_the_cap_is_read_one_byte_past_it_and_reported_truncated() -> None:
    answer = Answer(body=b"x" * 500_000)
    http, _ = client({SOURCE: answer})

    response = get(http, max_bytes=100_000)

    assert (response.body, response.truncated) == (b"x" * 100_000, True)
    assert answer.served[0].bytes_read == 100_001


@pytest.mark.parametrize("size", [0, 1, 99_999, 100_000])
def test_a_body_up_to_the_cap_is_read_whole(size: int) -> None:
    http, _ = client({SOURCE: Answer(body=b"y" * size)})

    response = get(http, max_bytes=100_000)

    assert (response.body, response.truncated) == (b"y" * size, False)


def test_a_cap_of_zero_reads_one_byte_to_tell_whether_there_was_a_body() -> None:
    answer = Answer(body=b"z" * 10)
    http, _ = client({SOURCE: answer})

    response = get(http, max_bytes=0)

    assert (response.body, response.truncated, answer.served[0].bytes_read) == (b"", True, 1)


def test_an_open_response_is_decided_on_from_its_headers_before_its_body_is_read() -> None:
    answer = Answer(headers={"Content-Type": "text/html", "Content-Length": "9999999"})
    http, _ = client({SOURCE: answer})

    with http.open("GET", SOURCE) as response:
        status, length = response.status, response.headers["Content-Length"]

    assert (status, length) == (200, "9999999")
    assert answer.served[0].bytes_read == 0
    assert answer.served[0].closed


# -- redirects ------------------------------------------------------------------------------------


def test_with_no_redirects_allowed_a_redirect_is_the_response() -> None:
    # Given the default policy, and a host that redirects (even to a URL no check would pass)
    http, transport = client({SOURCE: redirect("https://169.254.169.254/latest/meta-data/")})

    # When it is requested
    response = get(http)

    # Then the redirect is answered to the caller, not followed
    assert (response.status, response.headers["Location"]) == (
        302,
        "https://169.254.169.254/latest/meta-data/",
    )
    assert [request.full_url for request in transport.requests] == [SOURCE]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_an_https_redirect_to_a_public_host_is_followed_with_the_same_headers(status: int) -> None:
    target = "https://media.example.net/cat.png"
    http, transport = client({SOURCE: redirect(target, status), target: Answer()}, policy=FOLLOW)

    response = get(http)

    assert (response.status, response.body) == (200, BODY)
    assert [request.full_url for request in transport.requests] == [SOURCE, target]
    assert [request.get_header("User-agent") for request in transport.requests] == ["test-agent/1"] * 2


@pytest.mark.parametrize(
    ("location", "target"),
    [
        ("/other/dog.png", "https://cdn.example.com/other/dog.png"),
        ("https://media.example.net", "https://media.example.net/"),
        ("https://media.example.net/caf\u00e9 1.png", "https://media.example.net/caf%E9%201.png"),
    ],
)
def test_a_redirects_target_is_made_absolute_and_percent_encoded(location: str, target: str) -> None:
    http, transport = client({SOURCE: redirect(location), target: Answer()}, policy=FOLLOW)

    assert get(http).status == 200
    assert transport.requests[1].full_url == target


def test_a_redirect_without_a_target_is_the_response() -> None:
    http, transport = client({SOURCE: Answer(status=302, headers={}, body=b"")}, policy=FOLLOW)

    assert get(http).status == 302
    assert len(transport.requests) == 1


def test_a_post_is_never_redirected() -> None:
    url = "https://hooks.example.com/receive"
    http, transport = client({url: redirect("https://hooks.example.net/receive", 307)}, policy=FOLLOW)

    response = http.request("POST", url, max_bytes=0, body=b"{}")

    assert response.status == 307
    assert len(transport.requests) == 1


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
        ("https://user:pw@cdn.example.com/cat.png", "redirected: the URL carries credentials"),
    ],
)
def test_a_redirect_to_an_unsafe_url_is_refused_without_following_it(location: str, detail: str) -> None:
    answer = redirect(location)
    http, transport = client({SOURCE: answer}, policy=FOLLOW)

    error = raised(Refused, lambda: get(http))

    assert error.detail == detail
    assert [request.full_url for request in transport.requests] == [SOURCE]
    assert answer.served[0].closed


def test_redirects_are_followed_to_https_only_even_where_http_is_allowed() -> None:
    # Given a policy that allows http URLs and loopback, and a redirect from https to http
    url = "https://hooks.example.com/receive"
    policy = Policy(schemes=frozenset({"http", "https"}), allow_loopback=True, max_redirects=3)
    http, transport = client({url: redirect("http://hooks.example.com/receive")}, policy=policy)

    # When it is requested
    error = raised(Refused, lambda: get(http, url), url)

    # Then the downgrade is refused; the redirect target is still held to the policy's other checks
    assert error.detail == "redirected: not an https URL"
    assert len(transport.requests) == 1
    check_url("https://127.0.0.1/x", policy.for_redirects())


def test_at_most_the_policys_redirects_are_followed_then_the_redirect_is_the_response() -> None:
    hops = [f"https://cdn.example.com/hop/{number}" for number in range(6)]
    answers: dict[str, Answer | BaseException] = {SOURCE: redirect(hops[0])}
    answers |= {hop: redirect(following) for hop, following in itertools.pairwise(hops)}
    http, transport = client(answers, policy=FOLLOW)

    response = get(http)

    assert (response.status, response.headers["Location"]) == (302, hops[3])
    assert len(transport.requests) == 4  # the URL and 3 redirects
    assert all(answer.served[0].closed for answer in list(answers.values())[:3] if isinstance(answer, Answer))


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "kind", "retryable", "detail"),
    [
        (URLError(TimeoutError("timed out")), Failure.CONNECTION, True, "TimeoutError reaching the host"),
        (
            URLError(ConnectionResetError("reset")),
            Failure.CONNECTION,
            True,
            "ConnectionResetError reaching the host",
        ),
        (
            URLError(ConnectionRefusedError("no")),
            Failure.CONNECTION,
            True,
            "ConnectionRefusedError reaching the host",
        ),
        (
            URLError(socket.gaierror(socket.EAI_AGAIN, "again")),
            Failure.CONNECTION,
            True,
            "gaierror reaching the host",
        ),
        (URLError("no reason given"), Failure.CONNECTION, True, "connection error reaching the host"),
        (
            URLError(socket.gaierror(socket.EAI_NONAME, "not known")),
            Failure.HOST_NOT_FOUND,
            False,
            "the host does not exist",
        ),
        (
            URLError(ssl.SSLCertVerificationError("hostname mismatch")),
            Failure.CERTIFICATE,
            False,
            "the host's TLS certificate did not verify",
        ),
        (TimeoutError("read timed out"), Failure.READ, True, "TimeoutError while reading"),  # getresponse
        (http.client.RemoteDisconnected("closed"), Failure.READ, True, "RemoteDisconnected while reading"),
        (http.client.InvalidURL(f"bad {SOURCE}"), Failure.BAD_URL, False, "the URL is not valid"),
    ],
    ids=[
        "timeout",
        "reset",
        "refused",
        "dns-again",
        "no-reason",
        "no-such-host",
        "bad-certificate",
        "read-timeout",
        "disconnected",
        "invalid-url",
    ],
)
def test_a_failure_to_get_a_response_is_a_neutral_error(
    failure: BaseException, kind: Failure, retryable: bool, detail: str
) -> None:
    http, _ = client({SOURCE: failure})

    error = raised(Failed, lambda: get(http))

    assert (error.kind, error.retryable, error.detail) == (kind, retryable, detail)


@pytest.mark.parametrize(
    "failure",
    [
        UnicodeEncodeError("ascii", "GET /caf\u00e9.png HTTP/1.1", 8, 9, "ordinal not in range(128)"),
        UnicodeError("encoding with 'idna' codec failed (UnicodeError: label empty or too long)"),
        ValueError(f"unknown url type: {SOURCE}"),
    ],
    ids=lambda failure: type(failure).__name__,
)
def test_an_error_encoding_the_request_is_a_failure_never_worth_retrying(failure: Exception) -> None:
    # Given http.client or the IDNA codec fails on a URL that check_url let through
    http, _ = client({SOURCE: failure})

    # When it is requested
    error = raised(Failed, lambda: get(http))

    # Then it is not retryable, named by the error's type (never its text: it holds the URL)
    assert (error.kind, error.retryable, error.error_type) == (Failure.BAD_URL, False, type(failure).__name__)
    assert error.detail == f"{type(failure).__name__}: the URL cannot be requested"


def test_a_read_timeout_in_the_body_is_retryable() -> None:
    http, _ = client({SOURCE: Answer(body=b"x" * 200_000, fail_after=65_536)})

    error = raised(Failed, lambda: get(http))

    assert (error.kind, error.retryable, error.detail) == (Failure.READ, True, "TimeoutError while reading")


# -- the total deadline ----------------------------------------------------------------------------


class Clock:
    """The client's monotonic clock, moved only by the host's waits."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_body_that_trickles_past_the_total_deadline_is_retryable() -> None:
    # Given a clock that moves 4 s per look, and a 10 s deadline over a body of many chunks
    ticks = iter(range(0, 1000, 4))
    http, _ = client({SOURCE: Answer(body=b"x" * 500_000)}, total_timeout=10.0, clock=lambda: next(ticks))

    # When it is requested
    error = raised(Failed, lambda: get(http))

    # Then it failed on the deadline, worth another try
    assert (error.kind, error.retryable, error.detail) == (Failure.DEADLINE, True, "not done within 10 s")


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
        body: Any = self.body  # a binary file, as far as addinfourl is concerned
        return urllib.response.addinfourl(body, http.client.HTTPMessage(), req.full_url, 200)


def test_a_body_dripped_a_byte_at_a_time_is_cut_off_one_read_timeout_after_the_deadline() -> None:
    # Given a host that sends a 1000-byte body one byte every 4.9 s (4900 s in all)
    clock = Clock()
    body = DrippingBody(clock, 1000)
    http = PublicHttpsClient(
        transport=DrippingHttps(body), total_timeout=10.0, read_timeout=READ_TIMEOUT, clock=clock
    )

    # When it is requested
    error = raised(Failed, lambda: get(http))

    # Then the request gave up within the deadline plus one receive (read(n) would have waited for
    # all 1000 bytes), and may be tried again
    assert (error.kind, error.retryable, error.detail) == (Failure.DEADLINE, True, "not done within 10 s")
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
    monkeypatch: pytest.MonkeyPatch,
    clock: Clock,
    host: ScriptedSocket,
    address: str = PUBLIC,
    **options: Any,
) -> PublicHttpsClient:
    """The client over the real handler and http.client; only the socket and TLS are faked."""
    monkeypatch.setattr(socket, "create_connection", lambda address, timeout=None, *_: host)
    monkeypatch.setattr(ssl, "create_default_context", NoTLS)
    defaults: dict[str, Any] = {"total_timeout": 10.0, "read_timeout": READ_TIMEOUT, "clock": clock}
    return PublicHttpsClient(resolve=lambda name, port: [address], **(defaults | options))


OK_HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n"


def test_the_public_handler_reads_an_answer_through_http_client(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a host that answers at once (the control for the drips below)
    clock = Clock()
    host = ScriptedSocket(
        ScriptedReceive(clock, OK_HEADERS + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY)
    )

    # When it is requested
    response = get(through_the_public_handler(monkeypatch, clock, host))

    # Then the GET went out on the connection, under the read timeout, and the answer came back
    assert (response.status, response.headers["Content-Type"], response.body) == (200, "image/png", BODY)
    assert host.sent.startswith(b"GET /images/cat.png?v=2&token=s3cr3t HTTP/1.1\r\n")
    assert host.timeouts == [READ_TIMEOUT]


def test_a_post_goes_out_with_its_body_through_http_client(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a developer's receiver on http://127.0.0.1:8080 that answers 410
    clock = Clock()
    host = ScriptedSocket(ScriptedReceive(clock, b"HTTP/1.1 410 Gone\r\nContent-Length: 4\r\n\r\ngone"))
    http = through_the_public_handler(monkeypatch, clock, host, "127.0.0.1", policy=LOOPBACK)

    # When an event is posted to it
    response = http.request(
        "POST",
        "http://127.0.0.1:8080/hooks?sig=s3cr3t",
        max_bytes=100,
        headers={"Content-Type": "application/json"},
        body=b'{"event": "sent"}',
    )

    # Then the request carried its body and headers, and the 410 is the caller's to read
    head, _, sent_body = bytes(host.sent).partition(b"\r\n\r\n")
    assert head.startswith(b"POST /hooks?sig=s3cr3t HTTP/1.1\r\n")
    assert b"\r\nContent-Type: application/json" in head
    assert b"\r\nContent-Length: 17" in head
    assert sent_body == b'{"event": "sent"}'
    assert (response.status, response.body, response.truncated) == (410, b"gone", False)


@pytest.mark.parametrize(
    ("fast", "slow"),
    [
        (b"", OK_HEADERS + b"\r\n"),
        (OK_HEADERS, b"X-Padding: " + b"a" * 1000 + b"\r\n\r\n"),
        (OK_HEADERS + b"Content-Length: 1000\r\n\r\n", b"x" * 1000),
        (OK_HEADERS + b"Transfer-Encoding: chunked\r\n\r\n", b"0" * 1000 + b"1\r\nx\r\n0\r\n\r\n"),
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
    http = through_the_public_handler(monkeypatch, clock, ScriptedSocket(receive))

    # When it is requested
    error = raised(Failed, lambda: get(http))

    # Then no receive started after the deadline: the request ended within one read timeout of it
    assert (error.kind, error.retryable, error.detail) == (Failure.DEADLINE, True, "not done within 10 s")
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
    addresses = [PUBLIC, "93.184.215.15", "93.184.215.16", "93.184.215.17"]
    http = real(lambda host, port: addresses, connect_timeout=3.0, total_timeout=7.0, clock=clock)

    # When it is requested with 7 s in all
    error = raised(Failed, lambda: get(http))

    # Then the attempts had 3 s, 3 s and the 1 s left; the fourth never started
    assert attempts == [(addresses[0], 3.0), (addresses[1], 3.0), (addresses[2], 1.0)]
    assert (error.kind, error.retryable, error.detail) == (Failure.DEADLINE, True, "not done within 7 s")
    assert clock.now == 7.0


def test_no_redirect_is_followed_after_the_deadline() -> None:
    # Given hosts that each take 6 s to answer with a redirect
    clock = Clock()
    hops = ["https://cdn.example.com/hop/1", "https://cdn.example.com/hop/2"]
    answers: dict[str, Answer | BaseException] = {SOURCE: redirect(hops[0]), hops[0]: redirect(hops[1])}
    http, transport = client(answers | {hops[1]: Answer()}, policy=FOLLOW, clock=clock)
    answer = transport.https_open

    def slowly(req: urllib.request.Request) -> urllib.response.addinfourl:
        clock.now += 6
        return answer(req)

    transport.https_open = slowly  # type: ignore[method-assign]

    # When it is requested
    error = raised(Failed, lambda: get(http))

    # Then the first redirect was followed (at 6 s), the second (at 12 s) not
    assert (error.kind, error.retryable, error.detail) == (Failure.DEADLINE, True, "not done within 10 s")
    assert [request.full_url for request in transport.requests] == [SOURCE, hops[0]]
