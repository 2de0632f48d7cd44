"""Fault injection on the local stack's AWS endpoint: the WSGI middleware, with a fake moto behind it,
and its control endpoint over HTTP (the embedded endpoint, started by the test on 127.0.0.1)."""

import io
import json
import socket
import threading
import zlib
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import pytest
from botocore import parsers
from botocore.awsrequest import HeadersDict
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

from agentmessage_local.control_input import MAX_BODY_BYTES
from agentmessage_local.faults import EmbeddedAws, FaultInjector, identify, parse_fault

ITEM = {"org_id": {"S": "org_a"}, "id": {"S": "m1"}, "status": {"S": "queued"}}


def credential(service: str) -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=abc"
    )


def environ(
    service: str,
    *,
    target: str | None = None,
    method: str = "POST",
    path: str = "/",
    body: Any = None,
    content_type: str = "application/x-amz-json-1.0",
) -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
        "HTTP_AUTHORIZATION": credential(service),
    }
    if target:
        env["HTTP_X_AMZ_TARGET"] = target
    return env


class FakeAws:
    """Stands for moto: answers a GetItem with ``ITEM`` (or no item), remembers every request body."""

    def __init__(self, answer: dict[str, Any] | None = None) -> None:
        self.answer = {"Item": dict(ITEM)} if answer is None else answer
        self.bodies: list[bytes] = []

    def __call__(self, env: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.bodies.append(env["wsgi.input"].read(int(env.get("CONTENT_LENGTH") or 0)))
        body = json.dumps(self.answer).encode()
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/x-amz-json-1.0"),
                ("x-amz-crc32", str(zlib.crc32(body))),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]


def call(app: Any, env: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started["status"], started["headers"] = status, headers

    body = b"".join(app(env, start_response))
    headers = {name.lower(): value for name, value in started["headers"]}
    assert int(headers["content-length"]) == len(body)
    return int(started["status"].split()[0]), headers, body


def add(injector: FaultInjector, spec: dict[str, Any]) -> dict[str, Any]:
    status, _, body = call(injector, {**environ("x", path="/_local/faults", body=spec)})
    answer = json.loads(body)
    assert status == 201, answer
    data: dict[str, Any] = answer["data"]
    return data


def listing(injector: FaultInjector) -> list[dict[str, Any]]:
    status, _, body = call(injector, {**environ("x", method="GET", path="/_local/faults")})
    assert status == 200
    faults: list[dict[str, Any]] = json.loads(body)["data"]["faults"]
    return faults


def get_item(message_id: str = "m1") -> dict[str, Any]:
    return environ(
        "dynamodb",
        target="DynamoDB_20120810.GetItem",
        body={"TableName": "t-Messages", "Key": {"org_id": {"S": "org_a"}, "id": {"S": message_id}}},
    )


def botocore_error_code(
    service: str, operation: str, status: int, headers: dict[str, str], body: bytes
) -> str:
    """The error code botocore reads from an answer, after checking it would retry it as throttling."""
    model = botocore.session.get_session().get_service_model(service)
    operation_model = model.operation_model(operation)
    response = {"status_code": status, "headers": HeadersDict(headers), "body": body}
    shape = operation_model.output_shape
    assert shape is not None
    parsed = parsers.create_parser(model.metadata["protocol"]).parse(response, shape)
    context = RetryContext(attempt_number=1, operation_model=operation_model, parsed_response=parsed)
    assert ThrottledRetryableChecker().is_retryable(context), parsed
    return str(parsed["Error"]["Code"])


# -- describing faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        [],
        {"fault": "throttle"},  # no service
        {"service": "dynamodb", "fault": "explode"},
        {"service": "dynamodb", "fault": "throttle", "count": 0},
        {"service": "dynamodb", "fault": "throttle", "count": True},
        {"service": "dynamodb", "fault": "throttle", "seconds": 1},
        {"service": "dynamodb", "fault": "delay"},
        {"service": "dynamodb", "fault": "delay", "seconds": 0},
        {"service": "dynamodb", "fault": "delay", "seconds": float("nan")},
        {"service": "dynamodb", "fault": "delay", "seconds": 61},
        {"service": "sqs", "fault": "corrupt"},  # only DynamoDB items
        {"service": "dynamodb", "fault": "corrupt", "attributes": {"status": "x"}},
        {"service": "dynamodb", "fault": "throttle", "operation": ""},
        {"service": "dynamodb", "fault": "throttle", "colour": "red"},
    ],
)
def test_a_malformed_fault_is_refused(spec: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        parse_fault(spec)
    injector = FaultInjector(FakeAws())
    status, _, body = call(injector, environ("x", path="/_local/faults", body=spec))
    answer = json.loads(body)
    assert (status, answer["success"], answer["error"]["code"]) == (400, False, "BAD_REQUEST")
    assert listing(injector) == []


def test_calls_are_told_apart_by_service_operation_and_match() -> None:
    assert identify(get_item(), b"") is not None
    body = json.dumps({"TableName": "t-Messages"}).encode()
    found = identify(get_item(), body)
    assert found is not None
    assert (found.service, found.operation) == ("dynamodb", "GetItem")
    assert "t-Messages" in found.text
    sqs = identify(environ("sqs", target="AmazonSQS.SendMessage"), b"")
    assert sqs is not None
    assert (sqs.service, sqs.operation) == ("sqs", "SendMessage")
    # REST protocols: the operation from the method and the path, by the service's model
    create = identify(environ("scheduler", path="/schedules/m1", content_type="application/json"), b"")
    listing_ = identify(environ("scheduler", method="GET", path="/schedules"), b"")
    assert create is not None
    assert listing_ is not None
    assert (create.operation, listing_.operation) == ("CreateSchedule", "ListSchedules")
    query = identify(
        environ("sqs", content_type="application/x-www-form-urlencoded"), b"Action=ReceiveMessage&QueueUrl=x"
    )
    assert query is not None
    assert query.operation == "ReceiveMessage"
    unsigned = dict(get_item())
    del unsigned["HTTP_AUTHORIZATION"]
    assert identify(unsigned, b"") is None


# -- throttle -----------------------------------------------------------------------------------------------


def test_a_throttle_answers_count_matching_calls_then_lets_them_through() -> None:
    aws = FakeAws()
    injector = FaultInjector(aws)
    add(
        injector,
        {"service": "dynamodb", "operation": "GetItem", "match": "m1", "fault": "throttle", "count": 2},
    )
    other = call(injector, get_item("m2"))  # no match: through
    first, second, third = (call(injector, get_item("m1")) for _ in range(3))
    assert [other[0], first[0], second[0], third[0]] == [200, 400, 400, 200]
    assert len(aws.bodies) == 2  # the throttled calls never reached moto
    assert json.loads(aws.bodies[1])["Key"]["id"] == {"S": "m1"}  # the body reached moto whole
    [fault] = listing(injector)
    assert (fault["hits"], fault["remaining"]) == (2, 0)


@pytest.mark.parametrize(
    ("service", "target", "operation", "path", "code"),
    [
        ("dynamodb", "DynamoDB_20120810.GetItem", "GetItem", "/", "ProvisionedThroughputExceededException"),
        ("sqs", "AmazonSQS.SendMessage", "SendMessage", "/", "RequestThrottled"),
        ("scheduler", None, "CreateSchedule", "/schedules/m1", "ThrottlingException"),
    ],
)
def test_a_throttle_is_the_services_throttling_error_as_botocore_reads_it(
    service: str, target: str | None, operation: str, path: str, code: str
) -> None:
    injector = FaultInjector(FakeAws())
    add(injector, {"service": service, "operation": operation, "fault": "throttle"})
    status, headers, body = call(injector, environ(service, target=target, path=path))
    assert status in (400, 429)
    assert botocore_error_code(service, operation, status, headers, body) == code


def test_count_null_throttles_until_the_faults_are_cleared() -> None:
    injector = FaultInjector(FakeAws())
    add(injector, {"service": "dynamodb", "fault": "throttle", "count": None})
    assert {call(injector, get_item())[0] for _ in range(5)} == {400}
    status, _, body = call(injector, environ("x", method="DELETE", path="/_local/faults"))
    assert (status, json.loads(body)["data"]) == (200, {"cleared": 1})
    assert call(injector, get_item())[0] == 200


# -- corrupt ------------------------------------------------------------------------------------------------


def test_a_corrupt_answer_is_well_formed_with_its_item_overwritten() -> None:
    injector = FaultInjector(FakeAws())
    add(injector, {"service": "dynamodb", "operation": "GetItem", "fault": "corrupt"})
    status, headers, body = call(injector, get_item())
    assert status == 200
    item = json.loads(body)["Item"]
    assert item == {**ITEM, "status": {"S": "corrupted"}}
    assert headers["x-amz-crc32"] == str(zlib.crc32(body) & 0xFFFFFFFF)  # botocore checks it
    assert json.loads(call(injector, get_item())[2])["Item"] == ITEM  # count 1: spent


def test_an_answer_without_an_item_is_not_corrupted_and_does_not_count() -> None:
    aws = FakeAws(answer={})
    injector = FaultInjector(aws)
    add(injector, {"service": "dynamodb", "fault": "corrupt", "attributes": {"scopes": {"N": "1"}}})
    assert json.loads(call(injector, get_item())[2]) == {}
    aws.answer = {"Items": [dict(ITEM), dict(ITEM)]}
    items = json.loads(call(injector, get_item())[2])["Items"]
    assert [item["scopes"] for item in items] == [{"N": "1"}, {"N": "1"}]
    [fault] = listing(injector)
    assert (fault["hits"], fault["remaining"]) == (1, 0)


# -- delay --------------------------------------------------------------------------------------------------


def test_a_delayed_call_waits_until_the_faults_are_cleared() -> None:
    aws = FakeAws()
    injector = FaultInjector(aws)
    add(injector, {"service": "dynamodb", "fault": "delay", "seconds": 60})
    answers: list[int] = []
    held = threading.Thread(target=lambda: answers.append(call(injector, get_item())[0]))
    held.start()
    while not listing(injector)[0]["hits"]:
        held.join(0.01)
    assert answers == []  # still held
    assert aws.bodies == []  # and moto not reached yet
    call(injector, environ("x", method="DELETE", path="/_local/faults"))
    held.join(10)
    assert answers == [200]
    assert len(aws.bodies) == 1


def test_without_faults_calls_go_straight_through_unread() -> None:
    aws = FakeAws()
    injector = FaultInjector(aws)
    env = get_item()
    stream = env["wsgi.input"]
    assert call(injector, env)[0] == 200
    assert env["wsgi.input"] is stream  # not read and replaced: nothing registered


# -- the control endpoint refuses in JSON, whatever it is sent -----------------------------------------

READ_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[str, int]]:
    """The embedded AWS endpoint (moto behind the fault injector) on 127.0.0.1, a short read timeout;
    one for this module's tests, which only refuse faults (and add one the last)."""
    aws = EmbeddedAws("127.0.0.1", 0, read_timeout=READ_TIMEOUT)
    aws.start()
    try:
        parts = urlsplit(aws.url)
        yield parts.hostname or "127.0.0.1", parts.port or 80
    finally:
        aws.stop()


def exchange(
    endpoint: tuple[str, int], data: bytes, *, close_write: bool = False
) -> tuple[int, dict[str, str], Any]:
    """Send ``data`` as is; the answer's status, headers (names lower-cased) and JSON body."""
    with socket.create_connection(endpoint, timeout=10) as sock:
        sock.sendall(data)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("iso-8859-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)
    }
    assert headers["content-type"] == "application/json", received[:500]
    return int(status_line.split()[1]), headers, json.loads(body)


def refusal(answer: tuple[int, dict[str, str], Any]) -> tuple[int, str]:
    """A refusal in the envelope: its status and code (its request id the header's)."""
    status, headers, body = answer
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["request_id"] == headers["x-request-id"]
    return status, body["error"]["code"]


def post(body: bytes, headers: str = "") -> bytes:
    if not headers:
        headers = f"Content-Length: {len(body)}\r\n"
    return f"POST /_local/faults HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"",
        b"[]",
        b'"throttle"',
        b'{"service": 1, "fault": "throttle"}',
        b'{"service": "dynamodb", "fault": "throttle", "count": "2"}',
        b'{"service": "dynamodb", "fault": "delay", "seconds": "1"}',
        b'{"service": "dynamodb", "fault": "throttle", "colour": "red"}',
        b'{"service": "dynamodb", "fault": "throttle"',
        b"\xff\xfe{}",
        b"[" * 5000,
    ],
)
def test_a_fault_that_is_not_one_is_400_in_json_over_http(endpoint: tuple[str, int], body: bytes) -> None:
    assert refusal(exchange(endpoint, post(body))) == (400, "BAD_REQUEST")


def test_a_fault_body_declared_over_the_limit_is_413_in_json_before_it_is_read(
    endpoint: tuple[str, int],
) -> None:
    # Only the headers are sent: a server that read the body first would wait for it
    answer = exchange(endpoint, post(b"", f"Content-Length: {MAX_BODY_BYTES + 1}\r\n"))
    assert refusal(answer) == (413, "BAD_REQUEST")


def test_a_chunked_fault_body_over_the_limit_is_413_in_json(endpoint: tuple[str, int]) -> None:
    size = MAX_BODY_BYTES + 1
    chunked = f"{size:x}\r\n".encode() + b" " * size + b"\r\n0\r\n\r\n"
    answer = exchange(endpoint, post(chunked, "Transfer-Encoding: chunked\r\n"))
    assert refusal(answer) == (413, "BAD_REQUEST")


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ("Content-Length: 100\r\n", b'{"service": "sqs"'),  # less than declared, then the end
        ("Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n"),  # not a chunk size
        ("Transfer-Encoding: chunked\r\n", b'5\r\n{"ser'),  # the last chunk never comes
        ("Content-Length: abc\r\n", b"{}"),
    ],
)
def test_a_fault_body_cut_short_or_malformed_is_400_in_json(
    endpoint: tuple[str, int], headers: str, body: bytes
) -> None:
    assert refusal(exchange(endpoint, post(body, headers), close_write=True)) == (400, "BAD_REQUEST")


def test_a_fault_body_that_never_arrives_is_400_in_json_after_the_read_timeout(
    endpoint: tuple[str, int],
) -> None:
    # Given a client that declares a body, sends part of it and then nothing (the connection open)
    answer = exchange(endpoint, post(b'{"service"', "Content-Length: 100\r\n"))
    # Then the endpoint answers once its read timeout has passed
    assert refusal(answer) == (400, "BAD_REQUEST")
    assert "did not arrive" in answer[2]["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/_local/faults"),
        ("PATCH", "/_local/faults"),
        ("OPTIONS", "/_local/faults"),
        ("GET", "/_local/faults/"),
        ("GET", "/_local/nothing"),
        ("POST", "/_local/"),
    ],
)
def test_another_method_or_local_path_is_404_in_json(
    endpoint: tuple[str, int], method: str, path: str
) -> None:
    request = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
    assert refusal(exchange(endpoint, request)) == (404, "NOT_FOUND")


def test_the_endpoint_still_takes_a_good_fault_after_refusing_bad_ones(endpoint: tuple[str, int]) -> None:
    exchange(endpoint, post(b"not json"))
    body = json.dumps({"service": "sqs", "fault": "throttle"}).encode()
    status, _, answer = exchange(endpoint, post(body))
    assert (status, answer["success"], answer["data"]["service"]) == (201, True, "sqs")
