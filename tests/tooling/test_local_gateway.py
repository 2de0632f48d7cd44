"""The local gateway's API Gateway emulation, with fake functions: no sockets, no processes."""

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from agentmessage_local.api_definition import load_api
from agentmessage_local.gateway import ApiGateway, control_ok
from agentmessage_local.http_messages import HttpRequest, HttpResponse
from agentmessage_local.request_authorizer import RequestAuthorizer, policy_allows
from agentmessage_local.resources import planned_stack
from agentmessage_local.stack_clock import StackClock
from agentmessage_local.template import FunctionSpec, functions
from agentmessage_local.throttling import MethodSetting, StageThrottle
from agentmessage_local.triggers import at_time, rate_seconds
from agentmessage_local.workers import Invocation, WorkerPool

GOOD = "Bearer am_test_good"
ALL_ROUTES = "arn:aws:execute-api:us-east-1:123456789012:agentmsg01/dev/*/*"
Answer = Callable[[dict[str, Any]], Invocation]


class FakeFunction:
    def __init__(self, spec: FunctionSpec, answer: Answer) -> None:
        self.spec = spec
        self.answer = answer
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: Any, *, request_id: str | None = None) -> Invocation:
        self.events.append(event)
        return self.answer(event)

    def stop(self) -> None:
        pass


def allow(resource: str = ALL_ROUTES) -> Invocation:
    return Invocation(
        result={
            "principalId": "key_1",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [resource]}],
            },
            "context": {"org_id": "org_a", "scopes": "messages:read", "key_id": "key_1", "mode": "test"},
        }
    )


def authorizer(event: dict[str, Any]) -> Invocation:
    if event["headers"].get("Authorization") == GOOD:
        return allow()
    return Invocation(error={"errorType": "Unauthorized", "errorMessage": "Unauthorized"})


def ok(_: dict[str, Any]) -> Invocation:
    return Invocation(
        result={
            "statusCode": 200,
            "multiValueHeaders": {"Content-Type": ["application/json"], "Set-Thing": ["a", "b"]},
            "body": '{"success": true, "data": {}}',
            "isBase64Encoded": False,
        }
    )


class Stack:
    def __init__(self, parameters: dict[str, str] | None = None, **answers: Answer) -> None:
        self.clock = StackClock()
        self.seconds = 0.0  # the gateway's monotonic time, moved by hand
        self.functions = {
            logical_id: FakeFunction(spec, answers.get(logical_id, ok))
            for logical_id, spec in functions().items()
        }
        self.functions["AuthorizerFunction"].answer = answers.get("AuthorizerFunction", authorizer)
        self.gateway = ApiGateway(
            load_api(planned_stack(prefix="t", parameters=parameters)),
            WorkerPool(self.functions),
            self.clock,
            monotonic=lambda: self.seconds,
        )

    def events(self, logical_id: str) -> list[dict[str, Any]]:
        return self.functions[logical_id].events

    def request(
        self,
        method: str,
        path: str,
        *,
        authorization: str | None = GOOD,
        query: str = "",
        headers: tuple[tuple[str, str], ...] = (),
        body: bytes = b"",
    ) -> HttpResponse:
        sent = ((("Authorization", authorization),) if authorization else ()) + headers
        return self.gateway.handle(
            HttpRequest(
                method=method,
                path=path,
                query=query,
                headers=sent,
                body=body,
                source_ip="127.0.0.1",
                request_id=str(uuid.uuid4()),
                received_at=self.clock.now(),
            )
        )


def envelope_error(response: HttpResponse) -> tuple[int, str]:
    body = json.loads(response.body)
    assert body["success"] is False
    assert (
        body["error"]["request_id"] == response.header("x-amzn-RequestId") == response.header("X-Request-Id")
    )
    return response.status, body["error"]["code"]


def test_a_request_without_the_identity_source_is_401_and_never_reaches_the_authorizer() -> None:
    stack = Stack()
    assert envelope_error(stack.request("GET", "/v1/messages/abc", authorization=None)) == (
        401,
        "UNAUTHORIZED",
    )
    assert stack.events("AuthorizerFunction") == []


def test_an_unknown_route_is_404_before_any_authorizer() -> None:
    stack = Stack()
    for method, path in [
        ("GET", "/v1/nothing"),
        ("PUT", "/v1/messages"),
        ("GET", "/dev"),
        ("TRACE", "/v1/messages"),
    ]:
        response = stack.request(method, path)
        assert envelope_error(response) == (404, "NOT_FOUND")
        assert response.header("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    assert stack.events("AuthorizerFunction") == []


def test_the_authorizers_exception_unauthorized_is_401() -> None:
    stack = Stack()
    assert envelope_error(stack.request("GET", "/v1/messages/abc", authorization="Bearer x")) == (
        401,
        "UNAUTHORIZED",
    )
    assert len(stack.events("AuthorizerFunction")) == 1
    assert stack.events("GetMessageFunction") == []


def test_the_authorizer_gets_a_request_event_with_the_method_arn() -> None:
    stack = Stack()
    stack.request("DELETE", "/dev/v1/messages/abc", query="a=1")
    [event] = stack.events("AuthorizerFunction")
    assert event["type"] == "REQUEST"
    assert (
        event["methodArn"]
        == "arn:aws:execute-api:us-east-1:123456789012:agentmsg01/dev/DELETE/v1/messages/abc"
    )
    assert (event["resource"], event["path"], event["pathParameters"]) == (
        "/v1/messages/{id}",
        "/v1/messages/abc",
        {"id": "abc"},
    )
    assert event["queryStringParameters"] == {"a": "1"}


def test_an_allowed_request_reaches_its_function_as_a_rest_proxy_event() -> None:
    stack = Stack()
    response = stack.request(
        "GET",
        "/v1/messages/a%20b",
        query="x=1&x=2&y=",
        headers=(("X-Thing", "first"), ("X-Thing", "second"), ("User-Agent", "tests")),
    )
    assert response.status == 200
    [event] = stack.events("GetMessageFunction")
    # A REST API passes the path and its parameters as sent, percent-encoded (see api_definition).
    assert (event["resource"], event["path"], event["httpMethod"]) == (
        "/v1/messages/{id}",
        "/v1/messages/a%20b",
        "GET",
    )
    assert event["pathParameters"] == {"id": "a%20b"}
    assert event["headers"]["X-Thing"] == "second"
    assert event["multiValueHeaders"]["X-Thing"] == ["first", "second"]
    assert event["queryStringParameters"] == {"x": "2", "y": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": [""]}
    assert (event["body"], event["isBase64Encoded"], event["stageVariables"]) == (None, False, None)
    context = event["requestContext"]
    assert context["requestId"] == response.header("x-amzn-RequestId")
    assert (context["stage"], context["resourcePath"], context["httpMethod"]) == (
        "dev",
        "/v1/messages/{id}",
        "GET",
    )
    assert context["path"] == "/dev/v1/messages/a%20b"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "tests"
    assert isinstance(context["requestTimeEpoch"], int)
    assert context["authorizer"] == {
        "org_id": "org_a",
        "scopes": "messages:read",
        "key_id": "key_1",
        "mode": "test",
        "principalId": "key_1",
        "integrationLatency": 0,
    }


def test_the_stage_prefix_is_optional() -> None:
    stack = Stack()
    assert stack.request("POST", "/dev/v1/messages", body=b"{}").status == 200
    assert stack.request("POST", "/v1/messages", body=b"{}").status == 200
    assert [event["body"] for event in stack.events("SendMessageFunction")] == ["{}", "{}"]
    assert envelope_error(stack.request("POST", "/prod/v1/messages")) == (404, "NOT_FOUND")


def test_the_authorizer_result_is_cached_by_identity_for_its_ttl() -> None:
    stack = Stack()
    for path in ("/v1/messages/a", "/v1/messages/b", "/v1/messages"):
        stack.request("GET" if path != "/v1/messages" else "POST", path)
    assert len(stack.events("AuthorizerFunction")) == 1  # one wildcard Allow serves every route
    stack.request("GET", "/v1/messages/a", authorization="Bearer other")
    assert len(stack.events("AuthorizerFunction")) == 2  # another identity, another call
    stack.clock.advance(301)  # past ReauthorizeEvery (300 s in the template)
    stack.request("GET", "/v1/messages/a")
    assert len(stack.events("AuthorizerFunction")) == 3


def test_a_policy_that_does_not_allow_the_method_is_access_denied() -> None:
    stack = Stack(AuthorizerFunction=lambda _: allow("arn:aws:execute-api:*:*:*/dev/GET/*"))
    assert stack.request("GET", "/v1/messages/a").status == 200
    response = stack.request("POST", "/v1/messages", body=b"{}")  # the cached policy, another method
    assert envelope_error(response) == (403, "FORBIDDEN")
    assert response.header("x-amzn-ErrorType") == "AccessDeniedException"


@pytest.mark.parametrize(
    "answer",
    [
        Invocation(
            error={"errorType": "ServiceUnavailable", "errorMessage": "service temporarily unavailable"}
        ),
        Invocation(
            error={"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 10.00 seconds"}
        ),
        Invocation(result={"principalId": "x"}),  # no policy
        Invocation(result="Allow"),
    ],
)
def test_a_failing_authorizer_is_an_authorizer_configuration_error(answer: Invocation) -> None:
    stack = Stack(AuthorizerFunction=lambda _: answer)
    response = stack.request("GET", "/v1/messages/a")
    # AUTHORIZER_CONFIGURATION_ERROR, as the template renders it: 503, the caller may retry.
    assert envelope_error(response) == (503, "SERVICE_UNAVAILABLE")
    assert response.header("Retry-After") == "1"
    assert response.header("x-amzn-ErrorType") == "AuthorizerConfigurationException"
    assert stack.events("GetMessageFunction") == []


def test_the_functions_answer_is_mapped_back() -> None:
    stack = Stack(
        GetMessageFunction=lambda _: Invocation(
            result={
                "statusCode": 201,
                "headers": {"X-One": "1", "Content-Type": "text/plain"},
                "multiValueHeaders": {"X-Many": ["a", "b"]},
                "body": base64.b64encode(b"\x00binary").decode(),
                "isBase64Encoded": True,
            }
        )
    )
    response = stack.request("GET", "/v1/messages/a")
    assert (response.status, response.body) == (201, b"\x00binary")
    assert [value for name, value in response.headers if name == "X-Many"] == ["a", "b"]
    assert response.header("X-One") == "1"
    assert response.header("Content-Type") == "text/plain"
    assert response.header("x-amzn-RequestId")


@pytest.mark.parametrize(
    "answer",
    [
        Invocation(error={"errorType": "KeyError", "errorMessage": "'x'"}),
        Invocation(result={"statusCode": "abc", "body": ""}),
        Invocation(result={"statusCode": 200, "body": {"not": "a string"}}),
        Invocation(result={"statusCode": 200, "unexpected": 1}),
        Invocation(result=None),
    ],
)
def test_a_failed_or_malformed_function_answer_is_502_in_the_envelope(answer: Invocation) -> None:
    stack = Stack(GetMessageFunction=lambda _: answer)
    assert envelope_error(stack.request("GET", "/v1/messages/a")) == (502, "INTERNAL")


def test_an_explicit_deny_wins_over_an_allow() -> None:
    arn = "arn:aws:execute-api:us-east-1:123456789012:agentmsg01/dev/GET/v1/messages/a"
    allow_all = {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": ALL_ROUTES}
    deny_get = {"Effect": "Deny", "Action": "execute-api:*", "Resource": f"{ALL_ROUTES[:-4]}/GET/*"}
    assert policy_allows((allow_all,), arn)
    assert not policy_allows((allow_all, deny_get), arn)
    assert not policy_allows(({**allow_all, "Action": "s3:GetObject"},), arn)
    assert not policy_allows((), arn)


def test_schedule_expressions() -> None:
    assert at_time("at(2026-05-02T15:00:00)", "UTC") == datetime(2026, 5, 2, 15, tzinfo=UTC)
    assert at_time("at(2026-05-02T15:00:00)", "Europe/Paris") == datetime(2026, 5, 2, 13, tzinfo=UTC)
    assert at_time("rate(1 minute)", None) is None
    assert rate_seconds("rate(1 minute)") == 60
    assert rate_seconds("rate(2 hours)") == 7200
    assert rate_seconds("cron(0 * * * ? *)") is None


# -- stage throttling ---------------------------------------------------------------------------------

THROTTLED = {"ThrottlingBurstLimit": "2", "ThrottlingRateLimit": "1"}


def test_method_settings_come_from_the_templates_parameters() -> None:
    default = load_api(planned_stack(prefix="t"))
    [setting] = default.method_settings
    assert (setting.resource_path, setting.http_method) == ("/*", "*")
    assert (setting.burst_limit, setting.rate_limit) == (200, 100.0)  # the parameters' defaults
    [overridden] = load_api(planned_stack(prefix="t", parameters=THROTTLED)).method_settings
    assert (overridden.burst_limit, overridden.rate_limit) == (2, 1.0)


def test_over_the_burst_a_method_is_throttled_before_the_authorizer() -> None:
    stack = Stack(parameters=THROTTLED)
    assert [stack.request("GET", "/v1/messages/a").status for _ in range(2)] == [200, 200]
    calls = len(stack.events("AuthorizerFunction")) + len(stack.events("GetMessageFunction"))
    response = stack.request("GET", "/v1/messages/b", authorization="Bearer never-seen")
    assert envelope_error(response) == (429, "RATE_LIMITED")
    assert response.header("Retry-After") == "1"
    assert response.header("x-amzn-ErrorType") == "TooManyRequestsException"
    # Neither the authorizer (an identity never seen) nor the function was called.
    assert len(stack.events("AuthorizerFunction")) + len(stack.events("GetMessageFunction")) == calls


def test_a_request_without_a_key_is_throttled_too() -> None:
    stack = Stack(parameters={"ThrottlingBurstLimit": "1", "ThrottlingRateLimit": "1"})
    assert envelope_error(stack.request("GET", "/v1/messages/a", authorization=None)) == (401, "UNAUTHORIZED")
    assert envelope_error(stack.request("GET", "/v1/messages/a", authorization=None)) == (429, "RATE_LIMITED")


def test_each_method_has_its_own_bucket_refilled_at_the_rate() -> None:
    stack = Stack(parameters=THROTTLED)
    for _ in range(2):
        stack.request("GET", "/v1/messages/a")
    assert stack.request("GET", "/v1/messages/a").status == 429
    # Another method of the same resource, and another resource: their own buckets
    assert stack.request("DELETE", "/v1/messages/a").status == 200
    assert stack.request("POST", "/v1/messages", body=b"{}").status == 200
    stack.seconds += 0.5  # half a token at 1 per second
    assert stack.request("GET", "/v1/messages/a").status == 429
    stack.seconds += 0.5
    assert stack.request("GET", "/v1/messages/a").status == 200
    stack.seconds += 60  # refilled up to the burst, no further
    assert [stack.request("GET", "/v1/messages/a").status for _ in range(3)] == [200, 200, 429]


def test_an_unknown_route_is_not_throttled_by_a_methods_bucket() -> None:
    stack = Stack(parameters={"ThrottlingBurstLimit": "1", "ThrottlingRateLimit": "1"})
    for _ in range(3):
        assert envelope_error(stack.request("GET", "/v1/nothing")) == (404, "NOT_FOUND")


def test_the_most_specific_method_setting_wins() -> None:
    settings = [
        MethodSetting("/*", "*", 5, 5.0),
        MethodSetting("/~1v1~1messages~1{id}", "GET", 1, None),
    ]
    throttle = StageThrottle(settings, monotonic=lambda: 0.0)
    assert throttle.limits("GET", "/v1/messages/{id}") == (1, 5.0)  # the rate from the wider entry
    assert throttle.limits("DELETE", "/v1/messages/{id}") == (5, 5.0)
    assert StageThrottle([], monotonic=lambda: 0.0).limits("GET", "/v1/messages") is None
    assert [throttle.allow("GET", "/v1/messages/{id}") for _ in range(2)] == [True, False]


# -- the local control endpoints ------------------------------------------------------------------------


def test_an_unknown_local_endpoint_is_404_in_the_envelope() -> None:
    stack = Stack()
    for method, path in [("GET", "/_local/nothing"), ("DELETE", "/_local/clock"), ("GET", "/_local/")]:
        response = stack.request(method, path)
        assert envelope_error(response) == (404, "NOT_FOUND")


def control_gateway(handlers: dict[tuple[str, str], Any]) -> ApiGateway:
    stack = Stack()
    return ApiGateway(stack.gateway.api, WorkerPool(stack.functions), stack.clock, control=handlers)


def test_another_method_on_a_local_endpoint_is_404_naming_the_methods_it_takes() -> None:
    # Given a control endpoint that takes GET and POST
    gateway = control_gateway({("GET", "/_local/clock"): ok_control, ("POST", "/_local/clock"): ok_control})
    # When it is sent DELETE, PUT or OPTIONS
    for method in ("DELETE", "PUT", "OPTIONS"):
        response = gateway.handle(request_with_method(method, "/_local/clock"))
        # Then it is 404 in the envelope, as the API answers a known path with another method
        assert envelope_error(response) == (404, "NOT_FOUND")
        assert json.loads(response.body)["error"]["message"] == "/_local/clock takes GET or POST"


def test_a_local_endpoint_that_fails_is_a_500_in_the_envelope() -> None:
    def broken(_: HttpRequest) -> HttpResponse:
        raise RuntimeError("a bug")

    gateway = control_gateway({("GET", "/_local/clock"): broken})
    assert envelope_error(gateway.handle(request_with_method("GET", "/_local/clock"))) == (500, "INTERNAL")


def ok_control(request: HttpRequest) -> HttpResponse:
    return control_ok(request, {})


def request_with_method(method: str, path: str) -> HttpRequest:
    return HttpRequest(
        method=method,
        path=path,
        query="",
        headers=(),
        body=b"",
        source_ip="127.0.0.1",
        request_id=str(uuid.uuid4()),
        received_at=StackClock().now(),
    )


# -- the authorizer cache and more than one Authorization value ---------------------------------------------


def authorization_values(event: dict[str, Any]) -> list[str]:
    """Every Authorization value of an event's multiValueHeaders, whatever the case of the name."""
    return [
        value
        for name, values in event["multiValueHeaders"].items()
        if name.lower() == "authorization"
        for value in values
    ]


def single_key_authorizer(event: dict[str, Any]) -> Invocation:
    """The authorizer's rule: one Authorization value across all cases of the name, and a known key."""
    values = authorization_values(event)
    if values == [GOOD]:
        return allow()
    return Invocation(error={"errorType": "Unauthorized", "errorMessage": "Unauthorized"})


def request_with(headers: tuple[tuple[str, str], ...], query: str = "") -> HttpRequest:
    return HttpRequest(
        method="GET",
        path="/v1/messages/a",
        query=query,
        headers=headers,
        body=b"",
        source_ip="127.0.0.1",
        request_id=str(uuid.uuid4()),
        received_at=StackClock().now(),
    )


def test_the_authorizer_cache_key_holds_every_value_of_the_identity_header_whatever_its_case() -> None:
    # Given the template's authorizer, whose identity source is the Authorization header
    stack = Stack()
    config = stack.gateway.api.authorizers["KeyAuthorizer"]
    assert config.identity_headers == ("Authorization",)
    key_authorizer = RequestAuthorizer(config, stack.functions["AuthorizerFunction"], stack.clock)
    # When identities are read from requests with one value, the same value twice, and two cases
    one = key_authorizer.identity(request_with((("Authorization", GOOD),)), {})
    twice = key_authorizer.identity(request_with((("Authorization", GOOD), ("Authorization", GOOD))), {})
    two_cases = key_authorizer.identity(
        request_with((("Authorization", GOOD), ("authorization", "Bearer x"))), {}
    )
    lower = key_authorizer.identity(request_with((("authorization", GOOD),)), {})
    # Then each value counts, in order, and only a single value is the single key's identity
    assert one == lower == ((GOOD,),)
    assert twice == ((GOOD, GOOD),)
    assert two_cases == ((GOOD, "Bearer x"),)
    assert len({one, twice, two_cases}) == 3
    # And a request with no value, or only empty ones, has no identity (401 without the authorizer)
    assert key_authorizer.identity(request_with(()), {}) is None
    assert key_authorizer.identity(request_with((("Authorization", ""), ("authorization", ""))), {}) is None


@pytest.mark.parametrize(
    "second",
    [("Authorization", GOOD), ("authorization", GOOD), ("AUTHORIZATION", "Bearer other")],
)
def test_a_cached_allow_never_serves_a_request_with_a_second_authorization_value(
    second: tuple[str, str],
) -> None:
    # Given a good key whose Allow is cached
    stack = Stack(AuthorizerFunction=single_key_authorizer)
    assert stack.request("GET", "/v1/messages/a").status == 200
    assert len(stack.events("AuthorizerFunction")) == 1
    # When a request carries that key and a second Authorization value
    response = stack.request("GET", "/v1/messages/a", headers=(second,))
    # Then the cache does not answer it: the authorizer sees both values (as API Gateway sends
    # them, in multiValueHeaders) and refuses, so the request is 401 and reaches no function
    assert envelope_error(response) == (401, "UNAUTHORIZED")
    first, again = stack.events("AuthorizerFunction")
    assert authorization_values(first) == [GOOD]
    assert authorization_values(again) == [GOOD, second[1]]
    assert len(stack.events("GetMessageFunction")) == 1
    # And the single key is still served from the cache
    assert stack.request("GET", "/v1/messages/b").status == 200
    assert len(stack.events("AuthorizerFunction")) == 2


def test_the_authorizer_event_has_every_header_value_in_multi_value_headers() -> None:
    stack = Stack(AuthorizerFunction=single_key_authorizer)
    stack.request(
        "GET", "/v1/messages/a", headers=(("X-Thing", "1"), ("authorization", "Bearer b"), ("X-Thing", "2"))
    )
    [event] = stack.events("AuthorizerFunction")
    assert event["multiValueHeaders"]["Authorization"] == [GOOD]
    assert event["multiValueHeaders"]["authorization"] == ["Bearer b"]
    assert event["multiValueHeaders"]["X-Thing"] == ["1", "2"]
    assert event["headers"]["X-Thing"] == "2"  # the last value, as API Gateway keeps it


# -- request sizes: API Gateway's 10 MB, Lambda's 6 MB invoke payload -------------------------------------

SIX_MB = 6 * 1024 * 1024


def test_a_proxy_event_over_lambdas_invoke_payload_limit_is_413_and_invokes_nothing() -> None:
    # Given a body under API Gateway's 10 MB whose proxy event is over Lambda's 6,291,456 bytes
    stack = Stack()
    response = stack.request("POST", "/v1/messages", body=b"a" * SIX_MB)
    # Then API Gateway's own 413 (REQUEST_TOO_LARGE, which the template renders with DEFAULT_4XX)
    assert envelope_error(response) == (413, "BAD_REQUEST")
    assert response.header("x-amzn-ErrorType") == "BadRequestException"
    assert stack.events("SendMessageFunction") == []
    assert len(stack.events("AuthorizerFunction")) == 1  # refused after the authorizer, as on AWS


def test_the_invoke_payload_limit_is_on_the_whole_event_not_the_body() -> None:
    stack = Stack()
    # A body well under 6 MB that JSON escaping doubles in the event: refused
    escaped = stack.request("POST", "/v1/messages", body=b'"' * (SIX_MB // 2 + 1024))
    assert envelope_error(escaped) == (413, "BAD_REQUEST")
    # A body a little under 6 MB, with room for the rest of the event: invoked
    assert stack.request("POST", "/v1/messages", body=b"a" * (SIX_MB - 16 * 1024)).status == 200
    [event] = stack.events("SendMessageFunction")
    assert len(event["body"]) == SIX_MB - 16 * 1024


def test_a_body_over_10_mb_is_still_api_gateways_request_too_large() -> None:
    stack = Stack()
    response = stack.request("POST", "/v1/messages", body=b"a" * (10 * 1024 * 1024 + 1))
    assert envelope_error(response) == (413, "BAD_REQUEST")
    assert response.header("x-amzn-ErrorType") == "RequestTooLongException"
    assert stack.events("AuthorizerFunction") == []


def test_a_body_over_the_invoke_limit_without_a_key_is_401_first() -> None:
    stack = Stack()
    response = stack.request("POST", "/v1/messages", authorization=None, body=b"a" * SIX_MB)
    assert envelope_error(response) == (401, "UNAUTHORIZED")


# -- a failure of the gateway itself --------------------------------------------------------------------


def test_an_exception_in_the_gateway_is_a_500_in_the_envelope() -> None:
    def broken(_: dict[str, Any]) -> Invocation:
        raise RuntimeError("a bug")

    stack = Stack(GetMessageFunction=broken)
    assert envelope_error(stack.request("GET", "/v1/messages/a")) == (500, "INTERNAL")
