"""Events exactly as AWS sends them to each function, built in one place."""

import json
import uuid
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
API_ID = "abcdef1234"
STAGE = "dev"


def authorizer_context(
    org_id: str = "org_a",
    scopes: str = "messages:send messages:read",
    mode: str = "test",
    key_id: str = "key_1",
) -> dict[str, Any]:
    """``requestContext.authorizer`` as API Gateway fills it from the authorizer's context."""
    return {"org_id": org_id, "scopes": scopes, "key_id": key_id, "mode": mode, "principalId": key_id}


def api_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    authorizer: dict[str, Any] | None = None,
    resource: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """A REST API (v1) Lambda proxy integration event."""
    headers = {"Content-Type": "application/json", "Host": f"{API_ID}.execute-api.{REGION}.amazonaws.com"} | (
        headers or {}
    )
    if raw_body is None and body is not None:
        raw_body = json.dumps(body)
    request_id = request_id or str(uuid.uuid4())
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "abc123",
            "resourcePath": resource or path,
            "httpMethod": method,
            "extendedRequestId": "ext-" + request_id[:8],
            "requestTime": "22/Nov/2026:06:00:00 +0000",
            "path": f"/{STAGE}{path}",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": STAGE,
            "domainPrefix": API_ID,
            "requestTimeEpoch": 1795327200000,
            "requestId": request_id,
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "pytest"},
            "domainName": f"{API_ID}.execute-api.{REGION}.amazonaws.com",
            "apiId": API_ID,
            "authorizer": authorizer,
        },
        "body": raw_body,
        "isBase64Encoded": False,
    }


def send_event(
    body: Any = None, *, authorizer: dict[str, Any] | None = None, **kwargs: Any
) -> dict[str, Any]:
    return api_event("POST", "/v1/messages", body=body, authorizer=authorizer, **kwargs)


def message_event(
    method: str, message_id: str, *, authorizer: dict[str, Any] | None = None
) -> dict[str, Any]:
    return api_event(
        method,
        f"/v1/messages/{message_id}",
        resource="/v1/messages/{id}",
        path_parameters={"id": message_id},
        authorizer=authorizer,
    )


def authorizer_event(
    authorization: str | None, *, method: str = "POST", path: str = "/v1/messages"
) -> dict[str, Any]:
    """A REQUEST authorizer event."""
    headers = {"Authorization": authorization} if authorization is not None else {}
    return {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/{method}{path}",
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": {},
        "multiValueQueryStringParameters": {},
        "pathParameters": {},
        "stageVariables": {},
        "requestContext": {
            "path": f"/{STAGE}{path}",
            "accountId": ACCOUNT,
            "resourceId": "abc123",
            "stage": STAGE,
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "203.0.113.7"},
            "resourcePath": path,
            "httpMethod": method,
            "apiId": API_ID,
        },
    }


def sqs_event(
    bodies: list[str], *, queue_arn: str = f"arn:aws:sqs:{REGION}:{ACCOUNT}:dispatch"
) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"handle-{index}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1795327200000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1795327200001",
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for index, body in enumerate(bodies)
        ]
    }


def dispatch_body(org_id: str, message_id: str) -> str:
    return json.dumps({"org_id": org_id, "id": message_id})


def scheduled_event() -> dict[str, Any]:
    """What an EventBridge (Scheduler) rule delivers to the sweeper."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": ACCOUNT,
        "time": "2026-11-22T06:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/agentmessage-dev-sweep"],
        "detail": {},
    }


class FakeLambdaContext:
    function_name = "test-function"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:test-function"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/test-function"
    log_stream_name = "stream"

    remaining_ms = 60_000  # a fresh invocation of the longest function timeout in the template

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
