"""The HTTP gateway: API Gateway (REST API, Lambda proxy integrations) emulated from the template.

A request goes through what API Gateway does, in its order: the stage prefix (both ``/v1/...``
and ``/{stage}/v1/...`` are served), the route (an unknown one is MISSING_AUTHENTICATION_TOKEN,
before any authorizer), the authorizer, the proxy event to the route's function, and the
function's answer mapped back (a failed or malformed one is a 502). Every answer carries
``x-amzn-RequestId``. Paths under ``/_local/`` are the local stack's own control endpoints.
"""

import json
import secrets
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from agentmessage_local.api_definition import ApiDefinition
from agentmessage_local.gateway_responses import GatewayResponses
from agentmessage_local.http_messages import HttpRequest, HttpResponse
from agentmessage_local.proxy_events import API_ID, authorizer_event, method_arn, proxy_event, proxy_response
from agentmessage_local.request_authorizer import Allowed, RequestAuthorizer
from agentmessage_local.stack_clock import StackClock
from agentmessage_local.workers import WorkerPool

CONTROL_PREFIX = "/_local/"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit

ControlHandler = Callable[[HttpRequest], HttpResponse]


def json_response(status: int, body: Any) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json")], json.dumps(body).encode())


class ApiGateway:
    """Request in, response out: no sockets here."""

    def __init__(
        self,
        api: ApiDefinition,
        workers: WorkerPool,
        clock: StackClock,
        control: dict[tuple[str, str], ControlHandler] | None = None,
    ) -> None:
        self.api = api
        self._workers = workers
        self._clock = clock
        self._control = control or {}
        self._responses = GatewayResponses(api.gateway_responses, stage=api.stage, api_id=API_ID)
        self._authorizers = {
            name: RequestAuthorizer(config, workers[config.function_id], clock)
            for name, config in api.authorizers.items()
        }

    def handle(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(CONTROL_PREFIX):
            response = self._control_endpoint(request)
        else:
            response = self._api(request)
        response.headers.append(("x-amzn-RequestId", request.request_id))
        response.set_default_header("x-amz-apigw-id", secrets.token_urlsafe(12)[:16])
        return response

    def render_http_error(self, status: int, message: str, request: HttpRequest) -> HttpResponse:
        response = self._responses.render_status(status, message, request)
        response.headers.append(("x-amzn-RequestId", request.request_id))
        return response

    def _control_endpoint(self, request: HttpRequest) -> HttpResponse:
        handler = self._control.get((request.method, request.path))
        if handler is None:
            return json_response(404, {"message": "no such local control endpoint"})
        return handler(request)

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
        authorizer_context: dict[str, Any] | None = None
        if route.authorizer is not None:
            decision = self._authorizers[route.authorizer].authorize(
                request,
                query=dict(parse_qsl(request.query, keep_blank_values=True)),
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
        invocation = self._workers[route.function_id].invoke(event, request_id=str(uuid.uuid4()))
        response = proxy_response(invocation.result) if invocation.ok else None
        if response is None:
            return self._responses.render("LAMBDA_PROXY_ERROR", request, route.resource)
        return response


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


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int(handler.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length > 0 else b""


def make_server(gateway: ApiGateway, clock: StackClock, host: str, port: int) -> ThreadingHTTPServer:
    """An HTTP/1.1 server (keep-alive, a thread per connection) in front of ``gateway``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "agentmessage-local"

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except ConnectionError:
                self.close_connection = True

        def _serve(self) -> None:
            started = time.monotonic()
            target = urlsplit(self.path)
            try:
                body = _read_body(self)
            except ValueError:
                self.send_error(400, "malformed body")
                return
            request = HttpRequest(
                method=self.command,
                path=target.path or "/",
                query=target.query,
                headers=tuple((name, value) for name, value in self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
                request_id=str(uuid.uuid4()),
                received_at=clock.now(),
            )
            response = gateway.handle(request)
            self.send_response(response.status)
            for name, value in response.headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            elapsed = (time.monotonic() - started) * 1000
            print(
                f"gateway: {self.command} {target.path} -> {response.status} ({elapsed:.0f} ms)",
                file=sys.stderr,
                flush=True,
            )

        def __getattr__(self, name: str) -> Any:
            # Every method reaches the gateway (an unknown one is an unknown route), not a 501.
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """What the HTTP layer refuses (a malformed request line, headers too long): still the
            envelope, as DEFAULT_4XX/DEFAULT_5XX renders it."""
            request = HttpRequest(
                method=getattr(self, "command", None) or "GET",
                path="/",
                query="",
                headers=(),
                body=b"",
                source_ip=self.client_address[0],
                request_id=str(uuid.uuid4()),
                received_at=clock.now(),
            )
            response = gateway.render_http_error(code, message or "bad request", request)
            self.close_connection = True
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if getattr(self, "command", None) != "HEAD":
                self.wfile.write(response.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per request is printed by _serve

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def serve_in_background(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), name="gateway", daemon=True)
    thread.start()
    return thread
