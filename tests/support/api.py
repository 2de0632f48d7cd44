"""Reading handler responses: the status, the headers and the envelope, checked in one place."""

import json
from dataclasses import dataclass
from typing import Any

ENVELOPE_ERROR_KEYS = {"code", "message", "request_id"}


@dataclass(frozen=True)
class Answer:
    """One proxy-integration response, its body parsed."""

    status: int
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        assert self.body["success"] is True, self.body
        data: dict[str, Any] = self.body["data"]
        return data

    @property
    def error(self) -> dict[str, Any]:
        assert self.body["success"] is False, self.body
        error: dict[str, Any] = self.body["error"]
        return error


def answer_of(response: dict[str, Any]) -> Answer:
    """The response as API Gateway would render it (single and multi-value headers merged)."""
    headers = {name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}
    headers |= response.get("headers") or {}
    return Answer(status=int(response["statusCode"]), headers=headers, body=json.loads(response["body"]))


def request_id_of(event: dict[str, Any]) -> str:
    return str(event["requestContext"]["requestId"])


def enveloped(response: dict[str, Any], event: dict[str, Any]) -> Answer:
    """The answer, after checking what every API answer must hold: the envelope, JSON, the request id."""
    answer = answer_of(response)
    assert answer.headers.get("Content-Type") == "application/json"
    assert answer.headers.get("X-Request-Id") == request_id_of(event)
    if answer.body.get("success") is True:
        assert set(answer.body) == {"success", "data"}
        assert 200 <= answer.status < 300
    else:
        assert answer.body.get("success") is False, answer.body
        assert set(answer.body) == {"success", "error"}
        assert ENVELOPE_ERROR_KEYS <= set(answer.error) <= ENVELOPE_ERROR_KEYS | {"details"}
        assert answer.error["request_id"] == request_id_of(event)
        assert answer.status >= 400
    return answer


def assert_error(answer: Answer, status: int, code: str, message: str | None = None) -> None:
    assert (answer.status, answer.error["code"]) == (status, code), answer.body
    if message is not None:
        assert answer.error["message"] == message
