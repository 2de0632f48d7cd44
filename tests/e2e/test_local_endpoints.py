"""The local control endpoints refuse every bad input in JSON, in their envelope: the gateway's
``/_local/clock`` and the embedded AWS endpoint's ``/_local/faults``."""

import socket
from urllib.parse import urlsplit

import pytest

from agentmessage_local.control_input import MAX_BODY_BYTES
from tests.e2e.api_client import ApiClient, Faults, HttpAnswer
from tests.e2e.local_stack import LocalStackProcess
from tests.e2e.test_gateway import parse_raw, raw_exchange

BAD_BODIES = [
    b"not json",
    b"[]",
    b'"a string"',
    b"null",
    b'{"advance_seconds": 1, "service": "sqs"',  # cut short
    b"\xff\xfe{}",  # not UTF-8
    b"[" * 5000,  # nested past the parser's depth
]


def refused(answer: HttpAnswer, status: int, code: str = "BAD_REQUEST") -> str:
    """A refusal in JSON, in the envelope, with its request id; its message."""
    assert answer.headers.get("content-type") == "application/json", answer.headers
    assert answer.status == status, answer.body
    assert isinstance(answer.body, dict)
    assert set(answer.body) == {"success", "error"}
    assert answer.body["success"] is False
    assert set(answer.error) == {"code", "message", "request_id"}
    assert answer.error["code"] == code
    assert answer.error["request_id"] == answer.headers["x-request-id"]
    message: str = answer.error["message"]
    return message


def exchange_closing(url: str, data: bytes) -> HttpAnswer:
    """Send ``data``, end the request side (a body cut short), and read the answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return parse_raw(received)


@pytest.fixture
def faults(local_stack: LocalStackProcess) -> Faults:
    return Faults(local_stack.endpoint_url)


@pytest.fixture
def aws(local_stack: LocalStackProcess) -> ApiClient:
    return ApiClient(local_stack.endpoint_url)


# -- the clock -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        *BAD_BODIES,
        b'{"advance_seconds": [1]}',
        b'{"advance_seconds": {"by": 1}}',
        b'{"advance_seconds": 1, "unknown": true}',
    ],
)
def test_the_clock_refuses_a_bad_body_in_json(api: ApiClient, body: bytes) -> None:
    before = api.stack_now()
    answer = api.request("POST", "/_local/clock", raw_body=body, headers={"Content-Type": "application/json"})
    refused(answer, 400)
    assert api.stack_now() >= before


def test_the_clock_refuses_a_body_over_its_limit_with_413_in_json(api: ApiClient) -> None:
    body = b'{"advance_seconds": 0' + b" " * MAX_BODY_BYTES + b"}"
    assert "over" in refused(api.request("POST", "/_local/clock", raw_body=body), 413)


def test_the_clock_refuses_a_body_cut_short_in_json(local_stack: LocalStackProcess) -> None:
    cut = b"POST /_local/clock HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b'{"advance_seconds": 1'
    refused(exchange_closing(local_stack.gateway_url, cut), 400)


def test_the_clock_refuses_a_body_declared_over_its_limit_before_reading_it(
    local_stack: LocalStackProcess,
) -> None:
    declared = f"POST /_local/clock HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
    refused(parse_raw(raw_exchange(local_stack.gateway_url, declared.encode())), 413)


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH"])
def test_another_method_on_the_clock_is_404_in_json(api: ApiClient, method: str) -> None:
    assert (
        refused(api.request(method, "/_local/clock"), 404, "NOT_FOUND") == "/_local/clock takes GET or POST"
    )


# -- the faults ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        *BAD_BODIES,
        b"",
        b'{"service": 1, "fault": "throttle"}',
        b'{"service": "sqs", "fault": "throttle", "count": "2"}',
        b'{"service": "sqs", "fault": "delay", "seconds": true}',
        b'{"service": "sqs", "fault": "throttle", "unknown": 1}',
    ],
)
def test_the_faults_endpoint_refuses_a_bad_body_in_json(aws: ApiClient, faults: Faults, body: bytes) -> None:
    before = faults.listing()
    answer = aws.request(
        "POST", "/_local/faults", raw_body=body, headers={"Content-Type": "application/json"}
    )
    refused(answer, 400)
    assert faults.listing() == before  # nothing was added


def test_the_faults_endpoint_refuses_a_body_over_its_limit_with_413_in_json(aws: ApiClient) -> None:
    body = b'{"service": "sqs", "fault": "throttle"' + b" " * MAX_BODY_BYTES + b"}"
    refused(aws.request("POST", "/_local/faults", raw_body=body), 413)


def test_the_faults_endpoint_refuses_a_body_cut_short_in_json(local_stack: LocalStackProcess) -> None:
    cut = b"POST /_local/faults HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b'{"service": "sqs"'
    assert "ended early" in refused(exchange_closing(local_stack.endpoint_url, cut), 400)


@pytest.mark.parametrize(("method", "path"), [("PUT", "/_local/faults"), ("GET", "/_local/nothing")])
def test_another_method_or_path_on_the_aws_endpoint_is_404_in_json(
    aws: ApiClient, method: str, path: str
) -> None:
    refused(aws.request(method, path), 404, "NOT_FOUND")
