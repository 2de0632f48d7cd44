"""The HTTP gateway: API Gateway (REST API, Lambda proxy integrations) emulated from the template.

A request goes through what API Gateway does, in its order: the stage prefix (both ``/v1/...``
and ``/{stage}/v1/...`` are served), the route (an unknown one is MISSING_AUTHENTICATION_TOKEN,
before any authorizer), the stage's throttling (THROTTLED, before the authorizer), the
authorizer, the proxy event to the route's function, and the function's answer mapped back (a
failed or malformed one is a 502). Every answer carries ``x-amzn-RequestId`` and is the envelope.
Paths under ``/_local/`` are the local stack's own control endpoints.

A body over API Gateway's 10 MB is REQUEST_TOO_LARGE; a proxy event over Lambda's 6 MB invoke
payload limit (a body of a little less, once wrapped in the event) is refused as API Gateway
refuses it, 413, without invoking the function.

The HTTP server in front refuses, in the envelope, what cannot be a request: a malformed request
line or header block, an HTTP version other than 1.x (400 ``BAD_REQUEST``), a declared body over
the limit (413, before reading it), a body that does not arrive within the read timeout. Its
listen backlog holds a burst of connections (``LISTEN_BACKLOG``) until each gets its thread.
"""

import contextlib
import json
import secrets
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from agentmessage_local import control_input
from agentmessage_local.api_definition import ApiDefinition
from agentmessage_local.gateway_responses import GatewayResponses
from agentmessage_local.http_messages import HttpRequest, HttpResponse
from agentmessage_local.proxy_events import API_ID, authorizer_event, method_arn, proxy_event, proxy_response
from agentmessage_local.request_authorizer import Allowed, RequestAuthorizer
from agentmessage_local.stack_clock import StackClock
from agentmessage_local.throttling import StageThrottle
from agentmessage_local.workers import WorkerPool

CONTROL_PREFIX = "/_local/"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
# Lambda's limit on a synchronous invoke's payload, the whole proxy event as JSON: "Request must be
# smaller than 6291456 bytes for the InvokeFunction operation" (RequestEntityTooLargeException, as
# https://zaccharles.medium.com/deep-dive-lambdas-request-payload-size-limit-2-2-6350c1ae5577
# quotes it). What API Gateway answers then: gateway_responses' INVOKE_PAYLOAD_TOO_LARGE.
MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024
READ_TIMEOUT_SECONDS = control_input.READ_TIMEOUT_SECONDS  # a client silent this long is disconnected
LISTEN_BACKLOG = 1024  # connections the kernel holds until accepted (the system may cap it lower)

ControlHandler = Callable[[HttpRequest], HttpResponse]


def control_ok(request: HttpRequest, data: Any, status: int = 200) -> HttpResponse:
    """A control endpoint's answer, in the API's envelope."""
    return HttpResponse(
        status,
        [("Content-Type", "application/json"), ("X-Request-Id", request.request_id)],
        json.dumps({"success": True, "data": data}).encode(),
    )


def control_error(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    """A control endpoint's refusal, in the API's envelope."""
    body = {"success": False, "error": {"code": code, "message": message, "request_id": request.request_id}}
    return HttpResponse(
        status,
        [("Content-Type", "application/json"), ("X-Request-Id", request.request_id)],
        json.dumps(body).encode(),
    )


def is_control(path: str) -> bool:
    """Whether ``path`` is one of the local stack's own endpoints rather than the API's."""
    return path.startswith(CONTROL_PREFIX)


def body_limit(path: str) -> int:
    """The most body a request to ``path`` may carry: API Gateway's, or a control endpoint's."""
    return control_input.MAX_BODY_BYTES if is_control(path) else MAX_BODY_BYTES


def invoke_payload_size(event: Any) -> int:
    """The bytes of ``event`` as an invoke payload: compact JSON, UTF-8."""
    return len(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode())


class ApiGateway:
    """Request in, response out: no sockets here."""

    def __init__(
        self,
        api: ApiDefinition,
        workers: WorkerPool,
        clock: StackClock,
        control: dict[tuple[str, str], ControlHandler] | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self._workers = workers
        self._clock = clock
        self._control = control or {}
        self._responses = GatewayResponses(api.gateway_responses, stage=api.stage, api_id=API_ID)
        self._throttle = StageThrottle(api.method_settings, monotonic)
        self._authorizers = {
            name: RequestAuthorizer(config, workers[config.function_id], clock)
            for name, config in api.authorizers.items()
        }

    def handle(self, request: HttpRequest) -> HttpResponse:
        try:
            response = self._control_endpoint(request) if is_control(request.path) else self._api(request)
        except Exception:  # a failure of the gateway itself: still an answer, in the envelope
            traceback.print_exc(file=sys.stderr)
            response = self._internal_error(request)
        return self._finish(response, request)

    def _finish(self, response: HttpResponse, request: HttpRequest) -> HttpResponse:
        response.headers.append(("x-amzn-RequestId", request.request_id))
        response.set_default_header("x-amz-apigw-id", secrets.token_urlsafe(12)[:16])
        return response

    def refuse_body(self, request: HttpRequest, status: int, message: str) -> HttpResponse:
        """A request refused before its body was read in full: over the limit (413,
        REQUEST_TOO_LARGE), or malformed, cut short or late (400, DEFAULT_4XX); a control
        endpoint's in its own envelope."""
        if is_control(request.path):
            response = control_error(request, status, "BAD_REQUEST", message)
        elif status == 413:
            response = self._responses.render("REQUEST_TOO_LARGE", request)
        else:
            response = self._responses.render_status(status, message, request)
        return self._finish(response, request)

    def render_http_error(self, message: str, request: HttpRequest) -> HttpResponse:
        """What the HTTP layer refuses (not a request at all): 400, rendered by DEFAULT_4XX."""
        return self._finish(self._responses.render_status(400, message, request), request)

    def _internal_error(self, request: HttpRequest) -> HttpResponse:
        if is_control(request.path):
            return control_error(request, 500, "INTERNAL", "internal error")
        return self._responses.render_status(500, "internal error", request)

    def _control_endpoint(self, request: HttpRequest) -> HttpResponse:
        """A control endpoint; a path it does not serve, or a method it does not take, is 404 in
        the envelope, as the API answers a known path with another method."""
        handler = self._control.get((request.method, request.path))
        if handler is not None:
            return handler(request)
        methods = sorted(method for method, path in self._control if path == request.path)
        if methods:
            return control_error(request, 404, "NOT_FOUND", f"{request.path} takes {' or '.join(methods)}")
        return control_error(request, 404, "NOT_FOUND", "no such local control endpoint")

    def _api(self, request: HttpRequest) -> HttpResponse:
        stage_prefix = f"/{self.api.stage}/"
        if request.path.startswith(stage_prefix):
            request = _with_path(request, request.path.removeprefix(f"/{self.api.stage}"))
        if len(request.body) > MAX_BODY_BYTES:
            return self._responses.render("REQUEST_TOO_LARGE", request)
        found = self.api.find(request.method, request.path)
        if found is None:
            return self._responses.render("MISSING_AUTHENTICATION_TOKEN", request)
        route, path_parameters = found
        if not self._throttle.allow(route.method, route.resource):
            return self._responses.render("THROTTLED", request, route.resource)
        authorizer_context: dict[str, Any] | None = None
        if route.authorizer is not None:
            decision = self._authorizers[route.authorizer].authorize(
                request,
                query=_query_values(request.query),
                method_arn=method_arn(request, self.api.stage),
                event=lambda: authorizer_event(
                    request, stage=self.api.stage, resource=route.resource, path_parameters=path_parameters
                ),
            )
            if not isinstance(decision, Allowed):
                return self._responses.render(decision.response_type, request, route.resource)
            authorizer_context = decision.context
        event = proxy_event(
            request,
            stage=self.api.stage,
            resource=route.resource,
            path_parameters=path_parameters,
            authorizer=authorizer_context,
        )
        if invoke_payload_size(event) > MAX_INVOKE_PAYLOAD_BYTES:
            return self._responses.render("INVOKE_PAYLOAD_TOO_LARGE", request, route.resource)
        invocation = self._workers[route.function_id].invoke(event, request_id=str(uuid.uuid4()))
        response = proxy_response(invocation.result) if invocation.ok else None
        if response is None:
            return self._responses.render("LAMBDA_PROXY_ERROR", request, route.resource)
        return response


def _query_values(query: str) -> dict[str, list[str]]:
    """Every value of each query string parameter, decoded, in order."""
    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(name, []).append(value)
    return values


def _with_path(request: HttpRequest, path: str) -> HttpRequest:
    return HttpRequest(
        method=request.method,
        path=path,
        query=request.query,
        headers=request.headers,
        body=request.body,
        source_ip=request.source_ip,
        request_id=request.request_id,
        received_at=request.received_at,
    )


class BodyTooLarge(Exception):
    pass


def declared_length(handler: BaseHTTPRequestHandler) -> int | None:
    """The request's ``Content-Length``; ``None`` without one; ``ValueError`` when it is not one
    non-negative integer (repeated with different values, signed, not a number)."""
    values = {value.strip() for value in handler.headers.get_all("Content-Length") or []}
    if not values:
        return None
    if len(values) != 1:
        raise ValueError("conflicting Content-Length headers")
    (value,) = values
    if not value.isdigit() or not value.isascii():
        raise ValueError("Content-Length is not a number")
    return int(value)


def _read_body(handler: BaseHTTPRequestHandler, limit: int) -> bytes:
    """The body, read only as far as ``limit``: ``BodyTooLarge`` past it (a declared length is
    checked before anything is read), ``ValueError`` when it is malformed or ends early,
    ``TimeoutError`` when the client stops sending."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        size_so_far = 0
        while True:
            line = handler.rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise ValueError("the body ended early")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size < 0:
                raise ValueError("negative chunk size")
            if size == 0:
                while handler.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            size_so_far += size
            if size_so_far > limit:
                raise BodyTooLarge
            chunk = handler.rfile.read(size)
            if len(chunk) != size:
                raise ValueError("the body ended early")
            chunks.append(chunk)
            if handler.rfile.readline(1024) not in (b"\r\n", b"\n"):
                raise ValueError("a chunk does not end where its size says")
    length = declared_length(handler)
    if not length:
        return b""
    if length > limit:
        raise BodyTooLarge
    body = handler.rfile.read(length)
    if len(body) != length:
        raise ValueError("the body ended early")
    return body


class GatewayServer(ThreadingHTTPServer):
    """A thread per connection, and a listen backlog for a burst of them: with ``socketserver``'s
    default of 5, the clients of a burst beyond it wait for a retry of their connection, or are
    reset, until the first are accepted."""

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True


def make_server(
    gateway: ApiGateway,
    clock: StackClock,
    host: str,
    port: int,
    *,
    read_timeout: float = READ_TIMEOUT_SECONDS,
) -> ThreadingHTTPServer:
    """An HTTP/1.1 server (keep-alive, a thread per connection) in front of ``gateway``.

    Every socket read waits at most ``read_timeout`` seconds: a client that declares more body than
    it sends, or stops mid-headers, is answered 400 (when it can be) and disconnected, so it holds a
    thread no longer than that.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "agentmessage-local"
        timeout = read_timeout  # StreamRequestHandler sets it on the socket

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except ConnectionError:
                self.close_connection = True

        def parse_request(self) -> bool:
            self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
            if len(self.raw_requestline.split()) == 2:
                # "GET /" with no version (HTTP/0.9, which API Gateway does not serve): refused
                # before BaseHTTPRequestHandler waits for headers that never come.
                self.close_connection = True
                self.send_error(400, "HTTP/0.9 is not supported")
                return False
            return super().parse_request()

        def _request(self, path: str, query: str, body: bytes) -> HttpRequest:
            return HttpRequest(
                method=self.command or "GET",
                path=path or "/",
                query=query,
                headers=tuple((name, value) for name, value in self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
                request_id=str(uuid.uuid4()),
                received_at=clock.now(),
            )

        def _serve(self) -> None:
            started = time.monotonic()
            target = urlsplit(self.path)
            limit = body_limit(target.path)
            try:
                body = _read_body(self, limit)
            except BodyTooLarge:
                self._refuse_body(target.path, target.query, 413, f"the body is over {limit} bytes")
                return
            except TimeoutError:
                message = f"the body did not arrive within {read_timeout:g} s"
                self._refuse_body(target.path, target.query, 400, message)
                return
            except ValueError as exc:
                self._refuse_body(target.path, target.query, 400, f"malformed or incomplete body: {exc}")
                return
            response = gateway.handle(self._request(target.path, target.query, body))
            self._send(response)
            elapsed = (time.monotonic() - started) * 1000
            print(
                f"gateway: {self.command} {target.path} -> {response.status} ({elapsed:.0f} ms)",
                file=sys.stderr,
                flush=True,
            )

        def _refuse_body(self, path: str, query: str, status: int, message: str) -> None:
            """Answer a request whose body was not read in full, and close the connection: what
            is left of the body cannot be told from the next request."""
            print(f"gateway: refused: {status} {message}", file=sys.stderr, flush=True)
            self.close_connection = True
            response = gateway.refuse_body(self._request(path, query, b""), status, message)
            with contextlib.suppress(OSError):  # the client may be gone
                self._send(response, close=True)

        def _send(self, response: HttpResponse, *, close: bool = False) -> None:
            self.send_response(response.status)
            for name, value in response.headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            if close:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        def __getattr__(self, name: str) -> Any:
            # Every method reaches the gateway (an unknown one is an unknown route), not a 501.
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """What the HTTP layer refuses (a malformed request line or headers, HTTP/0.9 or 2+, a
            body that never arrives): 400 BAD_REQUEST in the envelope, always with a status line,
            and the connection closed."""
            # A refused request line leaves request_version at HTTP/0.9, for which
            # BaseHTTPRequestHandler writes neither a status line nor headers.
            self.request_version = self.protocol_version
            if not hasattr(self, "requestline"):
                self.requestline = ""  # read by send_response's log line
            if not getattr(self, "command", None):
                self.command = "GET"
            print(f"gateway: refused: {code} {message or ''}", file=sys.stderr, flush=True)
            request = HttpRequest(
                method=self.command,
                path="/",
                query="",
                headers=(),
                body=b"",
                source_ip=self.client_address[0],
                request_id=str(uuid.uuid4()),
                received_at=clock.now(),
            )
            self.close_connection = True
            with contextlib.suppress(OSError):  # the client may be gone
                self._send(gateway.render_http_error(message or "bad request", request), close=True)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request is printed by _serve

    return GatewayServer((host, port), Handler)


def serve_in_background(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), name="gateway", daemon=True)
    thread.start()
    return thread
