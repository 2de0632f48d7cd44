"""Real HTTP to the gateway (http.client: no dependency), and the envelope checked on every answer."""

import http.client
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tests.support.api import ENVELOPE_ERROR_KEYS, Answer


@dataclass(frozen=True)
class HttpAnswer(Answer):
    """An answer read off the wire: header names lower-cased, the body as its JSON parsed."""


def assert_enveloped(answer: HttpAnswer) -> None:
    """What every API answer holds: JSON, the envelope, and one request id throughout."""
    assert answer.headers.get("content-type") == "application/json", answer.headers
    request_id = answer.headers.get("x-amzn-requestid")
    assert request_id, answer.headers
    assert answer.headers.get("x-request-id") == request_id, answer.headers
    assert isinstance(answer.body, dict), answer.body
    if answer.body.get("success") is True:
        assert set(answer.body) == {"success", "data"}, answer.body
        assert 200 <= answer.status < 300
    else:
        assert answer.body.get("success") is False, answer.body
        assert set(answer.body) == {"success", "error"}, answer.body
        assert ENVELOPE_ERROR_KEYS <= set(answer.error) <= ENVELOPE_ERROR_KEYS | {"details"}, answer.body
        assert answer.error["request_id"] == request_id
        assert answer.status >= 400


def assert_error(answer: HttpAnswer, status: int, code: str) -> dict[str, Any]:
    assert_enveloped(answer)
    assert (answer.status, answer.error["code"]) == (status, code), (answer.status, answer.body)
    return answer.error


class ApiClient:
    """A client of one base URL: the gateway, or the AWS endpoint for its ``/_local/faults``."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80

    def request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        body: Any = None,
        raw_body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpAnswer:
        sent = dict(headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        if body is not None:
            raw_body = json.dumps(body)
            sent.setdefault("Content-Type", "application/json")
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request(method, path, body=raw_body, headers=sent)
            response = connection.getresponse()
            payload = response.read()
            answer_headers = {name.lower(): value for name, value in response.getheaders()}
        finally:
            connection.close()
        return HttpAnswer(status=response.status, headers=answer_headers, body=json.loads(payload or b"null"))

    def request_with_headers(
        self, method: str, path: str, headers: Sequence[tuple[str, str]], *, raw_body: bytes | None = None
    ) -> HttpAnswer:
        """A request with its headers sent as listed: a name may repeat, in any case."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.putrequest(method, path)
            for name, value in headers:
                connection.putheader(name, value)
            if raw_body is not None:
                connection.putheader("Content-Length", str(len(raw_body)))
            connection.endheaders(raw_body)
            response = connection.getresponse()
            payload = response.read()
            answer_headers = {name.lower(): value for name, value in response.getheaders()}
        finally:
            connection.close()
        return HttpAnswer(status=response.status, headers=answer_headers, body=json.loads(payload or b"null"))

    # -- the API ----------------------------------------------------------------------------------

    def send(self, key: str, body: dict[str, Any], *, idempotency_key: str | None = None) -> HttpAnswer:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        return self.request("POST", "/v1/messages", key=key, body=body, headers=headers)

    def get(self, key: str, message_id: str) -> HttpAnswer:
        return self.request("GET", f"/v1/messages/{message_id}", key=key)

    def cancel(self, key: str, message_id: str) -> HttpAnswer:
        return self.request("DELETE", f"/v1/messages/{message_id}", key=key)

    # -- the local stack's control endpoints -------------------------------------------------------

    def stack_now(self) -> str:
        answer = self.request("GET", "/_local/clock")
        assert_enveloped(answer)
        now: str = answer.data["now"]
        return now

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        answer = self.request("POST", "/_local/clock", body={"advance_seconds": seconds})
        assert_enveloped(answer)
        assert answer.status == 200, answer.body
        return answer.data

    def wait_for(
        self,
        key: str,
        message_id: str,
        done: Callable[[dict[str, Any]], bool],
        *,
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        """Poll GET until ``done(message)``, with a deadline; the message as last read."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.get(key, message_id)
            assert_enveloped(answer)
            message = answer.data
            if done(message):
                return message
            if time.monotonic() > deadline:
                raise AssertionError(f"message {message_id} still {message['status']} after {timeout} s")
            time.sleep(0.1)


class Faults:
    """The embedded AWS endpoint's fault injection (``/_local/faults``, docs/local-stack.md)."""

    def __init__(self, endpoint_url: str) -> None:
        self._client = ApiClient(endpoint_url)

    def add(self, **spec: Any) -> dict[str, Any]:
        answer = self._client.request("POST", "/_local/faults", body=spec)
        assert answer.status == 201, answer.body
        return answer.data

    def listing(self) -> list[dict[str, Any]]:
        answer = self._client.request("GET", "/_local/faults")
        assert answer.status == 200, answer.body
        faults: list[dict[str, Any]] = answer.data["faults"]
        return faults

    def get(self, fault_id: str) -> dict[str, Any]:
        return next(fault for fault in self.listing() if fault["id"] == fault_id)

    def clear(self) -> None:
        answer = self._client.request("DELETE", "/_local/faults")
        assert answer.status == 200, answer.body

    def wait_for_hit(self, fault_id: str, *, timeout: float = 30.0) -> None:
        """Until the fault has met its first call (a delayed call is then being held)."""
        deadline = time.monotonic() + timeout
        while not self.get(fault_id)["hits"]:
            if time.monotonic() > deadline:
                raise AssertionError(f"fault {fault_id} met no call within {timeout} s")
            time.sleep(0.02)
