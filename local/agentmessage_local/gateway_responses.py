"""The errors API Gateway answers itself, rendered from the template's ``GatewayResponses``.

A response type the template does not define falls back to ``DEFAULT_4XX`` or ``DEFAULT_5XX``
by its default status, and to API Gateway's own ``{"message": ...}`` body when neither is
defined. Templates are rendered for the ``$context`` variables API Gateway offers to gateway
responses; header values are ``'literals'``, ``context.*`` or ``method.request.header.*``.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentmessage_local.http_messages import HttpRequest, HttpResponse


@dataclass(frozen=True)
class ResponseType:
    status: int
    message: str  # API Gateway's default message
    error_type: str  # its x-amzn-ErrorType header
    # The gateway response type that renders it, when its name here is not one (several refusals
    # share a type); None: its own name, or DEFAULT_4XX/DEFAULT_5XX when the template lacks it.
    rendered_as: str | None = None


RESPONSE_TYPES: Mapping[str, ResponseType] = {
    "ACCESS_DENIED": ResponseType(
        403, "User is not authorized to access this resource", "AccessDeniedException"
    ),
    "AUTHORIZER_CONFIGURATION_ERROR": ResponseType(500, "null", "AuthorizerConfigurationException"),
    "AUTHORIZER_FAILURE": ResponseType(500, "null", "AuthorizerFailureException"),
    "INTEGRATION_FAILURE": ResponseType(504, "Internal server error", "InternalServerErrorException"),
    "INTEGRATION_TIMEOUT": ResponseType(504, "Endpoint request timed out", "InternalServerErrorException"),
    "MISSING_AUTHENTICATION_TOKEN": ResponseType(
        403, "Missing Authentication Token", "MissingAuthenticationTokenException"
    ),
    "REQUEST_TOO_LARGE": ResponseType(413, "Request Too Long", "RequestTooLongException"),
    "THROTTLED": ResponseType(429, "Too Many Requests", "TooManyRequestsException"),
    "UNAUTHORIZED": ResponseType(401, "Unauthorized", "UnauthorizedException"),
    # A Lambda proxy integration whose function failed, or answered something malformed: 502,
    # with no response type of its own, so DEFAULT_5XX renders it.
    "LAMBDA_PROXY_ERROR": ResponseType(502, "Internal server error", "InternalServerErrorException"),
    # A proxy event over Lambda's invoke payload limit (6 MB), which Lambda refuses
    # (RequestEntityTooLargeException): API Gateway answers it itself, not as an integration
    # failure: 413 {"message": "Request Too Long"}, x-amzn-ErrorType BadRequestException, as a
    # REST API with a Lambda proxy integration answered an upload between 6 and 10 MB
    # (https://github.com/koki-develop/lgtm-generator/issues/10). Rendered as REQUEST_TOO_LARGE.
    "INVOKE_PAYLOAD_TOO_LARGE": ResponseType(
        413, "Request Too Long", "BadRequestException", rendered_as="REQUEST_TOO_LARGE"
    ),
}

_CONTEXT_VARIABLE = re.compile(r"\$(?:\{context\.([A-Za-z.]+)\}|context\.([A-Za-z][A-Za-z.]*[A-Za-z]))")


class GatewayResponses:
    def __init__(self, definitions: Mapping[str, Any], *, stage: str, api_id: str) -> None:
        self._definitions = dict(definitions)
        self._stage = stage
        self._api_id = api_id

    def render(self, response_type: str, request: HttpRequest, resource_path: str = "") -> HttpResponse:
        return self._render(response_type, RESPONSE_TYPES[response_type], request, resource_path)

    def render_status(self, status: int, message: str, request: HttpRequest) -> HttpResponse:
        """An error with no response type of its own (an HTTP request that cannot be parsed, a
        failure of the gateway itself): DEFAULT_4XX or DEFAULT_5XX, keeping ``status``."""
        if status < 500:
            return self._render(
                "DEFAULT_4XX", ResponseType(status, message, "BadRequestException"), request, ""
            )
        kind = ResponseType(status, message, "InternalServerErrorException")
        return self._render("DEFAULT_5XX", kind, request, "")

    def _render(
        self, response_type: str, kind: ResponseType, request: HttpRequest, resource_path: str
    ) -> HttpResponse:
        response_type = kind.rendered_as or response_type
        definition = self._definition(response_type, kind.status)
        status = int(definition.get("StatusCode", kind.status)) if definition else kind.status
        context = {
            "requestId": request.request_id,
            "extendedRequestId": request.request_id,
            "stage": self._stage,
            "apiId": self._api_id,
            "httpMethod": request.method,
            "resourcePath": resource_path,
            "path": f"/{self._stage}{request.path}",
            "identity.sourceIp": request.source_ip,
            "error.message": kind.message,
            "error.messageString": json.dumps(kind.message),
            "error.responseType": response_type,
        }
        if definition is None:
            body = json.dumps({"message": None if kind.message == "null" else kind.message}).encode()
            headers = [("Content-Type", "application/json")]
        else:
            body = self._body(definition, context).encode()
            headers = self._headers(definition, context, request)
        headers.append(("x-amzn-ErrorType", kind.error_type))
        return HttpResponse(status=status, headers=headers, body=body)

    def _definition(self, response_type: str, status: int) -> dict[str, Any] | None:
        if response_type in self._definitions:
            found: dict[str, Any] = self._definitions[response_type]
            return found
        fallback = "DEFAULT_4XX" if status < 500 else "DEFAULT_5XX"
        return self._definitions.get(fallback)

    @staticmethod
    def _body(definition: dict[str, Any], context: Mapping[str, str]) -> str:
        templates = definition.get("ResponseTemplates", {})
        template = templates.get("application/json") or next(iter(templates.values()), None)
        if template is None:
            return json.dumps({"message": context["error.message"]})

        def substitute(found: re.Match[str]) -> str:
            name = found.group(1) or found.group(2)
            return context.get(name, found.group(0))

        return _CONTEXT_VARIABLE.sub(substitute, template)

    @staticmethod
    def _headers(
        definition: dict[str, Any], context: Mapping[str, str], request: HttpRequest
    ) -> list[tuple[str, str]]:
        headers = []
        for name, source in definition.get("ResponseParameters", {}).get("Headers", {}).items():
            source = str(source)
            if source.startswith("'") and source.endswith("'"):
                value: str | None = source[1:-1]
            elif source.startswith("context."):
                value = context.get(source.removeprefix("context."))
            elif source.startswith("method.request.header."):
                value = request.header(source.removeprefix("method.request.header."))
            else:
                value = None
            if value is not None:
                headers.append((name, value))
        return headers
