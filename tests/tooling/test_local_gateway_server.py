"""The local gateway's HTTP server on a socket (started by each test on 127.0.0.1, with fake
functions and the stack's own control endpoints): a burst of connections, and the control
endpoints' answers to bodies that are too large, cut short or never sent."""

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agentmessage_local.control_input import MAX_BODY_BYTES
from agentmessage_local.gateway import ApiGateway, make_server, serve_in_background
from agentmessage_local.stack import LocalOptions, LocalStack
from agentmessage_local.workers import WorkerPool
from tests.tooling.test_local_gateway import GOOD, Stack

READ_TIMEOUT = 0.5


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: Any  # the JSON parsed


def parse(received: bytes) -> Answer:
    """One HTTP/1.1 answer, its Content-Length checked and its body parsed as JSON."""
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("iso-8859-1").split("\r\n")
    protocol, status, _ = status_line.split(" ", 2)
    assert protocol == "HTTP/1.1", status_line
    headers = {
        name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)
    }
    assert int(headers["content-length"]) == len(body)
    return Answer(int(status), headers, json.loads(body))


def assert_control_refusal(answer: Answer, status: int, code: str = "BAD_REQUEST") -> str:
    """A control endpoint's refusal: JSON in the envelope, one request id throughout; its message."""
    assert answer.headers["content-type"] == "application/json"
    assert answer.status == status, answer
    assert set(answer.body) == {"success", "error"}
    assert answer.body["success"] is False
    error = answer.body["error"]
    assert error["code"] == code
    assert error["request_id"] == answer.headers["x-request-id"] == answer.headers["x-amzn-requestid"]
    message: str = error["message"]
    return message


@dataclass
class Served:
    host: str
    port: int

    def exchange(self, data: bytes, *, close_write: bool = False, timeout: float = 10.0) -> bytes:
        """Send ``data`` (then end the request side, if ``close_write``); all that comes back
        until the server closes the connection."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
            sock.sendall(data)
            if close_write:
                sock.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        return received


def gateway_with_control(tmp_path: Path) -> tuple[ApiGateway, Stack]:
    """A gateway of fake functions, with the local stack's own control endpoints."""
    fakes = Stack()
    control = LocalStack(LocalOptions(state_file=tmp_path / "state.json"))._control_endpoints()
    return ApiGateway(fakes.gateway.api, WorkerPool(fakes.functions), fakes.clock, control=control), fakes


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ThreadingHTTPServer]:
    """A gateway server, bound and listening, not yet serving."""
    gateway, fakes = gateway_with_control(tmp_path)
    server = make_server(gateway, fakes.clock, "127.0.0.1", 0, read_timeout=READ_TIMEOUT)
    try:
        yield server
    finally:
        server.server_close()


@pytest.fixture
def served(server: ThreadingHTTPServer) -> Iterator[Served]:
    thread = serve_in_background(server)
    try:
        yield Served("127.0.0.1", server.server_port)
    finally:
        server.shutdown()
        thread.join(5)


# -- a burst of connections -------------------------------------------------------------------------------


def test_a_burst_of_50_connections_is_held_until_served_and_each_is_answered(
    server: ThreadingHTTPServer,
) -> None:
    # Given a gateway that has not accepted a connection yet
    address = ("127.0.0.1", server.server_port)
    request = f"GET /v1/messages/m1 HTTP/1.1\r\nHost: x\r\nAuthorization: {GOOD}\r\nConnection: close\r\n\r\n"
    sockets: list[socket.socket | None] = [None] * 50
    failures: list[BaseException] = []
    start = threading.Barrier(50)

    def connect(n: int) -> None:
        start.wait()
        try:
            sock = socket.create_connection(address, timeout=3)
            sock.sendall(request.encode())
            sockets[n] = sock
        except OSError as exc:
            failures.append(exc)

    # When 50 clients connect at once, and each sends its request
    clients = [threading.Thread(target=connect, args=(n,)) for n in range(50)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(10)
    # Then the listen backlog held every connection (none reset, none left waiting)
    assert failures == []
    # And once the gateway serves, every one of them gets its answer
    thread = serve_in_background(server)
    try:
        statuses = []
        for sock in sockets:
            assert sock is not None
            with sock:
                received = b""
                while chunk := sock.recv(65536):
                    received += chunk
            statuses.append(parse(received).status)
        assert statuses == [200] * 50
    finally:
        server.shutdown()
        thread.join(5)


# -- the control endpoints' bodies ----------------------------------------------------------------------


def post_clock(headers: str, body: bytes = b"") -> bytes:
    return f"POST /_local/clock HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body


def test_a_control_body_declared_over_the_limit_is_413_in_json_before_it_is_read(served: Served) -> None:
    # Only the headers are sent: a server that read the body first would wait for it
    answer = parse(served.exchange(post_clock(f"Content-Length: {MAX_BODY_BYTES + 1}\r\n")))
    assert "over" in assert_control_refusal(answer, 413)
    assert answer.headers["connection"] == "close"


def test_a_chunked_control_body_over_the_limit_is_413_in_json(served: Served) -> None:
    announced = f"{MAX_BODY_BYTES + 1:x}\r\n".encode()
    answer = parse(served.exchange(post_clock("Transfer-Encoding: chunked\r\n", announced)))
    assert_control_refusal(answer, 413)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ("Content-Length: 100\r\n", b'{"advance_seconds": 1'),  # less than declared, then the end
        ("Transfer-Encoding: chunked\r\n", b'5\r\n{"adv\r\n'),  # no last chunk
        ("Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n"),  # not a chunk size
        ("Content-Length: abc\r\n", b"{}"),
        ("Content-Length: 2\r\nContent-Length: 3\r\n", b"{}"),
    ],
)
def test_a_control_body_cut_short_or_malformed_is_400_in_json(
    served: Served, headers: str, body: bytes
) -> None:
    answer = parse(served.exchange(post_clock(headers, body), close_write=True))
    assert_control_refusal(answer, 400)
    assert answer.headers["connection"] == "close"


def test_a_control_body_that_never_arrives_is_400_in_json_after_the_read_timeout(served: Served) -> None:
    # Given a client that declares a body, sends part of it and then nothing (the connection open)
    partial = post_clock("Content-Length: 100\r\n", b'{"advance_seconds"')
    # When the server's read timeout passes, Then it answers 400 in JSON and closes the connection
    answer = parse(served.exchange(partial, timeout=10))
    assert "did not arrive" in assert_control_refusal(answer, 400)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1]", b'{"advance_seconds": "1"}', b'{"advance_seconds": 1, "x": 1}', b"[" * 5000],
)
def test_a_control_body_that_is_not_a_step_is_400_in_json_over_http(served: Served, body: bytes) -> None:
    answer = parse(served.exchange(post_clock(f"Content-Length: {len(body)}\r\nConnection: close\r\n", body)))
    assert_control_refusal(answer, 400)


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH", "OPTIONS"])
def test_another_method_on_the_clock_is_404_in_json_over_http(served: Served, method: str) -> None:
    request = f"{method} /_local/clock HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    message = assert_control_refusal(parse(served.exchange(request.encode())), 404, "NOT_FOUND")
    assert message == "/_local/clock takes GET or POST"


def test_an_api_body_cut_short_in_chunks_is_400_in_the_envelope(served: Served) -> None:
    request = b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n"
    answer = parse(served.exchange(request, close_write=True))
    assert answer.status == 400
    assert answer.body["error"]["code"] == "BAD_REQUEST"
