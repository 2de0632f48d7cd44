"""The embedded AWS endpoint (moto's server) with fault injection, for the local stack only.

``EmbeddedAws`` serves moto's WSGI application, wrapped in ``FaultInjector``: a middleware that
answers ``/_local/faults`` itself and, while faults are registered, makes matching AWS calls fail
the way AWS makes them fail, so the code's own handling of a failing dependency runs for real:

- ``throttle``: the call is answered with the service's throttling error, in its protocol's shape
  (DynamoDB ``ProvisionedThroughputExceededException``, SQS ``RequestThrottled``, others
  ``ThrottlingException``; 400 for JSON protocols, 429 for REST-JSON ones). botocore retries it like
  any throttling error and, once its attempts are spent, raises it.
- ``corrupt``: the call reaches moto, and its DynamoDB answer comes back well formed but with every
  item it holds (``Item``, ``Items``, ``Attributes``) overwritten by ``attributes`` (by default
  ``{"status": {"S": "corrupted"}}``, a status no code knows): data the caller cannot parse.
  ``x-amz-crc32`` is recomputed, so botocore accepts it. An answer with no item is left alone and
  does not count.
- ``delay``: the call waits ``seconds`` (at most 60) before reaching moto, or until the faults are
  cleared, whichever comes first. Keep it under the callers' read timeout (the functions': 5 s),
  or botocore gives up waiting and sends the call again.

A fault is ``{"service": "dynamodb", "operation": "GetItem", "fault": "throttle", "count": 3}``:
``service`` is the signing name in the request's credential scope (``dynamodb``, ``sqs``,
``scheduler``); ``operation`` (optional: any) the API operation; ``match`` (optional) a text the
request's path, query or body must contain (a table name, a message id, an org id); ``count`` how
many matching calls it affects (default 1; ``null``: every one until cleared). Faults are tried in
the order they were added; a call gets at most one.

``POST /_local/faults`` adds one, ``GET /_local/faults`` lists them with ``hits`` (calls affected)
and ``remaining``, ``DELETE /_local/faults`` removes them all (and releases delayed calls). Every
answer under ``/_local/`` is JSON in the API's envelope, a refusal too: a body that is not a JSON
object or not a fault (400), over ``control_input.MAX_BODY_BYTES`` (413, before it is read), cut
short or not there within ``control_input.READ_TIMEOUT_SECONDS`` (400); another method or path
(404, as the gateway answers one).
"""

import io
import json
import re
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from agentmessage_local.control_input import (
    MAX_BODY_BYTES,
    READ_TIMEOUT_SECONDS,
    ControlInputError,
    json_object,
    too_large,
)

CONTROL_PREFIX = "/_local/"
CONTROL_PATH = "/_local/faults"
KINDS = ("throttle", "corrupt", "delay")
MAX_DELAY_SECONDS = 60.0
DEFAULT_CORRUPTION = {"status": {"S": "corrupted"}}
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass(frozen=True)
class AwsCall:
    service: str
    operation: str | None
    text: str  # path, query and body: what ``match`` looks into


@dataclass
class Fault:
    id: str
    service: str
    kind: str
    operation: str | None = None
    match: str | None = None
    remaining: int | None = 1  # None: until cleared
    seconds: float = 0.0
    attributes: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_CORRUPTION))
    hits: int = 0
    released: threading.Event = field(default_factory=threading.Event, repr=False)

    def applies_to(self, call: AwsCall) -> bool:
        return (
            (self.remaining is None or self.remaining > 0)
            and self.service == call.service
            and (self.operation is None or self.operation == call.operation)
            and (self.match is None or self.match in call.text)
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "service": self.service,
            "operation": self.operation,
            "match": self.match,
            "fault": self.kind,
            "remaining": self.remaining,
            "hits": self.hits,
        }
        if self.kind == "delay":
            data["seconds"] = self.seconds
        if self.kind == "corrupt":
            data["attributes"] = self.attributes
        return data


def parse_fault(spec: Any) -> Fault:
    """A fault from its JSON description; ``ValueError`` naming what is wrong."""
    if not isinstance(spec, dict):
        raise ValueError("expected a JSON object")
    unknown = set(spec) - {"service", "operation", "match", "fault", "count", "seconds", "attributes"}
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    service, kind = spec.get("service"), spec.get("fault")
    if not isinstance(service, str) or not service:
        raise ValueError("service: the signing name, e.g. dynamodb, sqs, scheduler")
    if kind not in KINDS:
        raise ValueError(f"fault: one of {', '.join(KINDS)}")
    for name in ("operation", "match"):
        if spec.get(name) is not None and (not isinstance(spec[name], str) or not spec[name]):
            raise ValueError(f"{name}: a non-empty string")
    count = spec.get("count", 1)
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError("count: a whole number >= 1, or null for every matching call")
    fault = Fault(
        id=uuid.uuid4().hex[:12],
        service=service,
        kind=kind,
        operation=spec.get("operation"),
        match=spec.get("match"),
        remaining=count,
    )
    if kind == "delay":
        seconds = spec.get("seconds")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 < seconds <= MAX_DELAY_SECONDS  # NaN fails this too
        ):
            raise ValueError(f"seconds: a number in (0, {MAX_DELAY_SECONDS:g}]")
        fault.seconds = float(seconds)
    elif "seconds" in spec:
        raise ValueError("seconds: only for a delay")
    if kind == "corrupt":
        if service != "dynamodb":
            raise ValueError("corrupt: only DynamoDB answers (their items) can be corrupted")
        attributes = spec.get("attributes", DEFAULT_CORRUPTION)
        if (
            not isinstance(attributes, dict)
            or not attributes
            or not all(isinstance(value, dict) and len(value) == 1 for value in attributes.values())
        ):
            raise ValueError('attributes: DynamoDB attribute values by name, e.g. {"status": {"S": "x"}}')
        fault.attributes = attributes
    elif "attributes" in spec:
        raise ValueError("attributes: only for corrupt")
    return fault


class FaultSet:
    """The registered faults; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def active(self) -> bool:
        with self._lock:
            return any(fault.remaining is None or fault.remaining > 0 for fault in self._faults)

    def take(self, call: AwsCall) -> Fault | None:
        """The first fault that applies to ``call``, one of its count used."""
        with self._lock:
            for fault in self._faults:
                if fault.applies_to(call):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    fault.hits += 1
                    return fault
        return None

    def refund(self, fault: Fault) -> None:
        with self._lock:
            if fault.remaining is not None:
                fault.remaining += 1
            fault.hits -= 1

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.to_json() for fault in self._faults]

    def clear(self) -> int:
        with self._lock:
            faults, self._faults = self._faults, []
        for fault in faults:
            fault.released.set()
        return len(faults)


# -- what a request is: service and operation -------------------------------------------------------


@cache
def _service_model(service: str) -> Any:
    import botocore.session

    try:
        return botocore.session.get_session().get_service_model(service)
    except Exception:  # an unknown signing name: no protocol, no REST operations
        return None


@cache
def _rest_operations(service: str) -> tuple[tuple[str, re.Pattern[str], str], ...]:
    """(HTTP method, path pattern, operation) for a REST service, the most specific first."""
    model = _service_model(service)
    if model is None:
        return ()
    found = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = str(http.get("requestUri", "/")).split("?", 1)[0]
        pattern = re.sub(
            r"\\\{([^}]+?)(\\\+)?\\\}",
            lambda m: "(.+)" if m.group(2) else "([^/]+)",
            re.escape(uri),
        )
        found.append((str(http.get("method", "POST")), re.compile(pattern + "/?"), name, uri.count("{")))
    found.sort(key=lambda entry: entry[3])
    return tuple((method, pattern, name) for method, pattern, name, _ in found)


def identify(environ: dict[str, Any], body: bytes) -> AwsCall | None:
    """The service (from the credential scope) and operation of an AWS request."""
    scope = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if scope is None:
        return None
    service = scope.group(1)
    path = environ.get("PATH_INFO", "/")
    query = environ.get("QUERY_STRING", "")
    text = f"{path}?{query}\n{body.decode('utf-8', errors='replace')}"
    operation: str | None = None
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:  # JSON protocols: DynamoDB_20120810.GetItem, AmazonSQS.SendMessage
        operation = target.rsplit(".", 1)[-1]
    else:
        form = parse_qs(query) or (
            parse_qs(body.decode("utf-8", errors="replace"))
            if "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "")
            else {}
        )
        if "Action" in form:  # the query protocol
            operation = form["Action"][0]
        else:
            method = environ.get("REQUEST_METHOD", "GET")
            operation = next(
                (
                    name
                    for op_method, pattern, name in _rest_operations(service)
                    if op_method == method and pattern.fullmatch(path)
                ),
                None,
            )
    return AwsCall(service=service, operation=operation, text=text)


# -- the failures ---------------------------------------------------------------------------------------

_THROTTLING_CODES = {"dynamodb": "ProvisionedThroughputExceededException", "sqs": "RequestThrottled"}


def throttling_error(service: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """The service's throttling error, in its protocol's shape: (status, headers, body)."""
    model = _service_model(service)
    protocol = model.metadata.get("protocol", "json") if model is not None else "json"
    code = _THROTTLING_CODES.get(service, "ThrottlingException")
    request_id = str(uuid.uuid4())
    message = "Rate exceeded"
    if protocol == "json":
        headers = [
            (
                "Content-Type",
                f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.0') if model else '1.0'}",
            ),
            ("x-amzn-RequestId", request_id),
        ]
        if model is not None and "awsQueryCompatible" in model.metadata:
            headers.append(("x-amzn-query-error", f"{code};Sender"))
        body = json.dumps({"__type": f"com.amazonaws.{service}#{code}", "message": message}).encode()
        return "400 Bad Request", headers, body
    if protocol == "rest-json":
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", code),
        ]
        return "429 Too Many Requests", headers, json.dumps({"Message": message}).encode()
    body = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>{message}</Message>"
        f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    return "400 Bad Request", [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body


def corrupted(body: bytes, attributes: dict[str, Any]) -> bytes | None:
    """A DynamoDB answer with every item overwritten by ``attributes``; ``None`` when it has none."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    items: list[dict[str, Any]] = []
    for name in ("Item", "Attributes"):
        if isinstance(answer.get(name), dict):
            items.append(answer[name])
    if isinstance(answer.get("Items"), list):
        items.extend(item for item in answer["Items"] if isinstance(item, dict))
    if isinstance(answer.get("Responses"), dict):  # BatchGetItem
        for table_items in answer["Responses"].values():
            items.extend(item for item in table_items if isinstance(item, dict))
    if not items:
        return None
    for item in items:
        item.update(attributes)
    return json.dumps(answer).encode()


class FaultInjector:
    """WSGI middleware: ``/_local/faults``, and the registered faults applied to AWS calls."""

    def __init__(
        self, app: WsgiApp, faults: FaultSet | None = None, *, read_timeout: float = READ_TIMEOUT_SECONDS
    ) -> None:
        self._app = app
        self.faults = faults or FaultSet()
        self._read_timeout = read_timeout

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(CONTROL_PREFIX):
            return self._control(environ, start_response)
        if not self.faults.active():
            return self._app(environ, start_response)
        body = _read_input(environ)
        call = identify(environ, body)
        fault = self.faults.take(call) if call is not None else None
        if fault is None:
            return self._app(environ, start_response)
        if fault.kind == "throttle":
            status, headers, payload = throttling_error(fault.service)
            start_response(status, [*headers, ("Content-Length", str(len(payload)))])
            return [payload]
        if fault.kind == "delay":
            fault.released.wait(fault.seconds)
            return self._app(environ, start_response)
        return self._corrupt(fault, environ, start_response)

    def _corrupt(
        self, fault: Fault, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], Any]:
            captured["status"], captured["headers"] = status, headers
            return lambda _: None

        answer = self._app(environ, capture)
        try:
            body = b"".join(answer)
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()
        changed = corrupted(body, fault.attributes) if captured["status"].startswith("200") else None
        if changed is None:
            self.faults.refund(fault)
        else:
            body = changed
        headers = [(name, value) for name, value in captured["headers"] if name.lower() != "content-length"]
        if changed is not None:
            headers = [(name, value) for name, value in headers if name.lower() != "x-amz-crc32"]
            headers.append(("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF)))
        start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def _control(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        request_id = str(uuid.uuid4())
        status, payload = 200, {}
        if environ.get("PATH_INFO") != CONTROL_PATH:
            status, payload = 404, _error("NOT_FOUND", "no such local control endpoint", request_id)
        elif method == "GET":
            payload = {"success": True, "data": {"faults": self.faults.listing()}}
        elif method == "DELETE":
            payload = {"success": True, "data": {"cleared": self.faults.clear()}}
        elif method == "POST":
            try:
                body = control_body(environ, read_timeout=self._read_timeout)
                fault = self.faults.add(parse_fault(json_object(body)))
            except ControlInputError as exc:
                status, payload = exc.status, _error("BAD_REQUEST", str(exc), request_id)
            except ValueError as exc:
                status, payload = 400, _error("BAD_REQUEST", str(exc), request_id)
            else:
                status, payload = 201, {"success": True, "data": fault.to_json()}
        else:
            message = f"{CONTROL_PATH} takes DELETE or GET or POST"
            status, payload = 404, _error("NOT_FOUND", message, request_id)
        answer = json.dumps(payload).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("X-Request-Id", request_id),
            ("Content-Length", str(len(answer))),
        ]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [] if method == "HEAD" else [answer]


def _error(code: str, message: str, request_id: str) -> dict[str, Any]:
    return {"success": False, "error": {"code": code, "message": message, "request_id": request_id}}


def control_body(environ: dict[str, Any], *, read_timeout: float = READ_TIMEOUT_SECONDS) -> bytes:
    """A control request's body: ``ControlInputError`` when it is over ``MAX_BODY_BYTES`` (a
    declared length is checked before anything is read), malformed, cut short, or not all there
    within ``read_timeout`` seconds."""
    stream = environ.get("wsgi.input")
    chunked = bool(environ.get("wsgi.input_terminated"))
    length = (environ.get("CONTENT_LENGTH") or "").strip()
    if stream is None or (not chunked and not length):
        return b""
    if not chunked and not (length.isascii() and length.isdigit()):
        raise ControlInputError(400, "Content-Length is not a number")
    if not chunked and int(length) > MAX_BODY_BYTES:
        raise too_large()
    connection = environ.get("werkzeug.socket")
    if connection is not None:
        # The server closes every connection after its answer, so the timeout can stay.
        connection.settimeout(read_timeout)
    wanted = MAX_BODY_BYTES + 1 if chunked else int(length)
    try:
        body: bytes = stream.read(wanted)
    except TimeoutError as exc:
        raise ControlInputError(400, f"the body did not arrive within {read_timeout:g} s") from exc
    except OSError as exc:  # a malformed chunk
        raise ControlInputError(400, f"malformed body: {exc}") from exc
    if len(body) > MAX_BODY_BYTES:
        raise too_large()
    if not chunked and len(body) < wanted:
        raise ControlInputError(400, "the body ended early")
    return body


def _read_input(environ: dict[str, Any]) -> bytes:
    """The request body, read once and put back for the application behind."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH") or ""
    if length.isdigit():
        body = stream.read(int(length)) if int(length) else b""
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ.pop("wsgi.input_terminated", None)
    return body


# -- the server ---------------------------------------------------------------------------------------


class EmbeddedAws:
    """moto's server on ``host:port`` in a thread, behind ``FaultInjector`` (as moto's own
    ``ThreadedMotoServer`` runs it, with the middleware added)."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 4566, *, read_timeout: float = READ_TIMEOUT_SECONDS
    ) -> None:
        self._host = host
        self._port = port
        self._read_timeout = read_timeout  # for a control request's body
        self.faults = FaultSet()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        app = FaultInjector(
            DomainDispatcherApplication(create_backend_app), self.faults, read_timeout=self._read_timeout
        )
        self._server = make_server(
            self._host, self._port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.faults.clear()  # delayed calls go on, so the server can stop
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
