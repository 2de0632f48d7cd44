"""The v1 envelope: ``{"success": true, "data": ...}`` or ``{"success": false, "error": {...}}``."""

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from agentmessage.api.resolver import JSON, request_id
from agentmessage.api.v1.errors import v1_error
from agentmessage.domain.errors import AgentMessageError, ValidationFailed


def dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def ok(app: APIGatewayRestResolver, status: HTTPStatus, data: Any) -> Response[str]:
    return Response(
        status_code=status,
        content_type=JSON,
        body=dumps({"success": True, "data": data}),
        headers={"X-Request-Id": request_id(app)},
    )


class V1Renderer:
    """How v1 answers a refusal: the error envelope, with the table's status, code and message."""

    def dumps(self, body: Any) -> str:
        return dumps(body)

    def error(self, exc: AgentMessageError, request_id: str) -> Response[str]:
        entry = v1_error(exc)
        message = exc.explicit_message if entry.status < HTTPStatus.INTERNAL_SERVER_ERROR else None
        error: dict[str, Any] = {
            "code": entry.code,
            "message": message or entry.message,
            "request_id": request_id,
        }
        if isinstance(exc, ValidationFailed) and exc.details:
            error["details"] = exc.details
        headers = {"X-Request-Id": request_id}
        if entry.retry_after is not None:
            headers["Retry-After"] = str(entry.retry_after)
        return Response(
            status_code=entry.status,
            content_type=JSON,
            body=dumps({"success": False, "error": error}),
            headers=headers,
        )


RENDERER = V1Renderer()
