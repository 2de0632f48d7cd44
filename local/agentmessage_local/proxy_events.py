"""Events in the REST API (v1) formats, as API Gateway builds them, and the proxy response back.

``proxy_event`` is the Lambda proxy integration's event, ``authorizer_event`` the REQUEST
authorizer's; ``proxy_response`` maps a handler's answer to HTTP, or ``None`` when API Gateway
would call it malformed (a 502).

The path (``path``, ``requestContext.path``, the method ARN) and ``pathParameters`` are passed as
sent, still percent-encoded, as a REST API passes them (see ``api_definition``); query string
parameters are decoded.
"""

import base64
import binascii
import secrets
import zlib
from typing import Any
from urllib.parse import parse_qsl

from agentmessage_local.http_messages import HttpRequest, HttpResponse
from agentmessage_local.resources import ACCOUNT, REGION

API_ID = "agentmsg01"
_DOMAIN = f"{API_ID}.execute-api.{REGION}.amazonaws.com"


def _headers(request: HttpRequest) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Single-value headers (the last value wins) and multi-value headers, names as sent,
    with the headers API Gateway adds in front of the integration."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    added = [
        ("X-Amzn-Trace-Id", f"Root=1-{int(request.received_at.timestamp()):08x}-{secrets.token_hex(12)}"),
        ("X-Forwarded-For", request.source_ip),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Proto", "https"),
    ]
    present = {name.lower() for name, _ in request.headers}
    for name, value in [*request.headers, *((n, v) for n, v in added if n.lower() not in present)]:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _query(request: HttpRequest) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    pairs = parse_qsl(request.query, keep_blank_values=True)
    if not pairs:
        return None, None
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value
        multi.setdefault(name, []).append(value)
    return single, multi


def _body(request: HttpRequest) -> str | None:
    # No binary media types in the template: a body is passed on as text.
    return request.body.decode("utf-8", errors="replace") if request.body else None


def method_arn(request: HttpRequest, stage: str) -> str:
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{stage}/{request.method}{request.path}"


def _request_context(
    request: HttpRequest, *, stage: str, resource: str, authorizer: dict[str, Any] | None
) -> dict[str, Any]:
    moment = request.received_at
    context: dict[str, Any] = {
        "resourceId": format(zlib.crc32(resource.encode()) % 0xFFFFFF, "06x"),
        "resourcePath": resource,
        "httpMethod": request.method,
        "extendedRequestId": base64.b32encode(request.request_id.encode()[:10]).decode().rstrip("="),
        "requestTime": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "path": f"/{stage}{request.path}",
        "accountId": ACCOUNT,
        "protocol": "HTTP/1.1",
        "stage": stage,
        "domainPrefix": API_ID,
        "requestTimeEpoch": int(moment.timestamp() * 1000),
        "requestId": request.request_id,
        "identity": {
            "cognitoIdentityPoolId": None,
            "accountId": None,
            "cognitoIdentityId": None,
            "caller": None,
            "sourceIp": request.source_ip,
            "principalOrgId": None,
            "accessKey": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": None,
            "userAgent": request.header("User-Agent"),
            "user": None,
        },
        "domainName": _DOMAIN,
        "apiId": API_ID,
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    return context


def proxy_event(
    request: HttpRequest,
    *,
    stage: str,
    resource: str,
    path_parameters: dict[str, str],
    authorizer: dict[str, Any] | None,
) -> dict[str, Any]:
    headers, multi_headers = _headers(request)
    query, multi_query = _query(request)
    return {
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": _request_context(request, stage=stage, resource=resource, authorizer=authorizer),
        "body": _body(request),
        "isBase64Encoded": False,
    }


def authorizer_event(
    request: HttpRequest, *, stage: str, resource: str, path_parameters: dict[str, str]
) -> dict[str, Any]:
    headers, multi_headers = _headers(request)
    query, multi_query = _query(request)
    return {
        "type": "REQUEST",
        "methodArn": method_arn(request, stage),
        "resource": resource,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query or {},
        "multiValueQueryStringParameters": multi_query or {},
        "pathParameters": path_parameters,
        "stageVariables": {},
        "requestContext": _request_context(request, stage=stage, resource=resource, authorizer=None),
    }


def proxy_response(result: Any) -> HttpResponse | None:
    """The handler's proxy response as HTTP; ``None`` when it is malformed."""
    if not isinstance(result, dict) or not set(result) <= {
        "statusCode",
        "headers",
        "multiValueHeaders",
        "body",
        "isBase64Encoded",
        "cookies",
    }:
        return None
    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return None
    headers: list[tuple[str, str]] = []
    multi = result.get("multiValueHeaders") or {}
    single = result.get("headers") or {}
    if not isinstance(multi, dict) or not isinstance(single, dict):
        return None
    for name, values in multi.items():
        headers.extend(
            (str(name), str(value)) for value in (values if isinstance(values, list) else [values])
        )
    # A name in both: the multi-value list wins, as API Gateway merges them.
    seen = {name.lower() for name in multi}
    headers.extend((str(name), str(value)) for name, value in single.items() if name.lower() not in seen)
    body = result.get("body")
    if body is None:
        raw = b""
    elif not isinstance(body, str):
        return None
    elif result.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return None
    else:
        raw = body.encode()
    response = HttpResponse(status=status, headers=headers, body=raw)
    response.set_default_header("Content-Type", "application/json")
    return response
