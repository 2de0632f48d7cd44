"""What the gateway emulates of API Gateway, seen from a client."""

import json
import re
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from agentmessage_local.api_definition import load_api
from agentmessage_local.gateway import ApiGateway, make_server, serve_in_background
from agentmessage_local.resources import planned_stack
from agentmessage_local.stack_clock import StackClock
from agentmessage_local.template import FunctionSpec, functions
from agentmessage_local.workers import Invocation, WorkerPool
from tests.e2e.api_client import ApiClient, HttpAnswer, assert_enveloped, assert_error
from tests.e2e.conftest import OrgKey
from tests.e2e.local_stack import LocalStackProcess
from tests.e2e.test_sending import message


def test_the_api_answers_with_and_without_the_stage_prefix(api: ApiClient, org_a: OrgKey) -> None:
    sent = api.send(org_a.key, message()).data
    for path in (f"/v1/messages/{sent['id']}", f"/dev/v1/messages/{sent['id']}"):
        answer = api.request("GET", path, key=org_a.key)
        assert_enveloped(answer)
        assert answer.data["id"] == sent["id"]


def test_every_request_gets_its_own_request_id(api: ApiClient, org_a: OrgKey) -> None:
    ids = {api.get(org_a.key, "unknown").headers["x-amzn-requestid"] for _ in range(3)}
    assert len(ids) == 3
    assert all(re.fullmatch(r"[0-9a-f-]{36}", request_id) for request_id in ids)


def test_the_development_key_printed_at_start_works(api: ApiClient, local_stack: LocalStackProcess) -> None:
    banner = local_stack.banner()
    found = re.search(r"Test key\s+(am_test_\w+)", banner)
    assert found is not None, banner
    assert (
        f"curl -s -X POST {local_stack.gateway_url}/v1/messages -H 'Authorization: Bearer {found.group(1)}'"
        in banner
    )
    assert api.send(found.group(1), message()).status == 202


# -- the local control endpoints: the envelope too ------------------------------------------------------


@pytest.mark.parametrize(
    "raw_body",
    [
        '{"advance_seconds": -5}',
        '{"advance_seconds": NaN}',
        '{"advance_seconds": Infinity}',
        '{"advance_seconds": 1e300}',
        '{"advance_seconds": "60"}',
        "not json",
    ],
)
def test_the_clock_endpoint_refuses_a_bad_step_in_the_envelope_and_the_stack_goes_on(
    api: ApiClient, org_a: OrgKey, raw_body: str
) -> None:
    before = api.stack_now()
    answer = api.request(
        "POST", "/_local/clock", raw_body=raw_body, headers={"Content-Type": "application/json"}
    )
    assert_error(answer, 400, "BAD_REQUEST")
    assert api.stack_now() >= before  # still readable: the clock was not moved
    assert api.advance_clock(0)["offset_seconds"] >= 0
    assert api.send(org_a.key, message()).status == 202  # and the API still answers


@pytest.mark.parametrize(("method", "path"), [("GET", "/_local/nothing"), ("POST", "/_local/health")])
def test_an_unknown_local_endpoint_is_404_in_the_envelope(api: ApiClient, method: str, path: str) -> None:
    assert_error(api.request(method, path), 404, "NOT_FOUND")


def test_the_local_endpoints_answer_in_the_envelope(api: ApiClient) -> None:
    for path in ("/_local/health", "/_local/clock"):
        answer = api.request("GET", path)
        assert_enveloped(answer)
        assert answer.status == 200


# -- what the HTTP layer refuses: still the envelope, with a status line ----------------------------------


def raw_exchange(url: str, data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send ``data`` as is; everything the server answers until it closes (or ``timeout``)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def parse_raw(received: bytes) -> HttpAnswer:
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("iso-8859-1").split("\r\n")
    protocol, status, _ = status_line.split(" ", 2)
    assert protocol == "HTTP/1.1", status_line
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    assert int(headers["content-length"]) == len(body)
    return HttpAnswer(status=int(status), headers=headers, body=json.loads(body))


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",  # no method, path and version
        b"GET /v1/messages HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /v1/messages HTTP/2.0\r\nHost: x\r\n\r\n",
        b"GET /v1/messages HTTP/x.y\r\nHost: x\r\n\r\n",
        b"GET /\r\n",  # HTTP/0.9: answered at once, with a status line
        b"GET /v1/messages/x HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 101 + b"\r\n",  # over 100 headers
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
def test_what_is_not_an_http_request_is_400_bad_request_in_the_envelope(
    local_stack: LocalStackProcess, request_bytes: bytes
) -> None:
    answer = parse_raw(raw_exchange(local_stack.gateway_url, request_bytes))
    assert_error(answer, 400, "BAD_REQUEST")
    assert answer.headers["connection"] == "close"


def test_a_body_declared_over_10_mb_is_413_before_it_is_read(local_stack: LocalStackProcess) -> None:
    # Only the headers are sent: a server that read the body first would wait for it (and time out).
    declared = b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 10485761\r\n\r\n"
    answer = parse_raw(raw_exchange(local_stack.gateway_url, declared, timeout=10))
    assert_enveloped(answer)
    assert answer.status == 413
    assert answer.error["code"] == "BAD_REQUEST"
    assert answer.headers["x-amzn-errortype"] == "RequestTooLongException"


def test_a_chunked_body_over_10_mb_is_413_before_the_chunk_is_read(local_stack: LocalStackProcess) -> None:
    # One chunk of 10 MB + 1 byte is announced, none of it sent.
    request = b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\na00001\r\n"
    answer = parse_raw(raw_exchange(local_stack.gateway_url, request))
    assert answer.status == 413
    assert answer.headers["x-amzn-errortype"] == "RequestTooLongException"


class FakeFunction:
    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec

    def invoke(self, event: Any, *, request_id: str | None = None) -> Invocation:
        return Invocation(error={"errorType": "Unauthorized", "errorMessage": "Unauthorized"})

    def stop(self) -> None:
        pass


@pytest.fixture
def quick_timeout_gateway() -> Iterator[str]:
    """A gateway server in this process whose read timeout is half a second (fake functions)."""
    clock = StackClock()
    gateway = ApiGateway(
        load_api(planned_stack(prefix="t")),
        WorkerPool({logical_id: FakeFunction(spec) for logical_id, spec in functions().items()}),
        clock,
    )
    server = make_server(gateway, clock, "127.0.0.1", 0, read_timeout=0.5)
    thread = serve_in_background(server)
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_client_that_sends_less_than_it_declared_is_answered_400_and_disconnected(
    quick_timeout_gateway: str,
) -> None:
    short = b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"{" * 10
    # The server gives up waiting (its read timeout) and closes: recv() ends before our own timeout.
    answer = parse_raw(raw_exchange(quick_timeout_gateway, short, timeout=20))
    assert_error(answer, 400, "BAD_REQUEST")


def test_a_silent_client_is_disconnected(quick_timeout_gateway: str) -> None:
    assert raw_exchange(quick_timeout_gateway, b"", timeout=20) == b""
    assert raw_exchange(quick_timeout_gateway, b"GET /v1/messages/x HTTP/1.1\r\nHost:", timeout=20) == b""
