"""Every error the routes can answer, in the envelope, with the request id throughout.

Here: 400 BAD_REQUEST, 401 UNAUTHORIZED, 403 FORBIDDEN, 404 NOT_FOUND (a message, a route),
409 MESSAGE_NOT_CANCELABLE, 422 VALIDATION_FAILED and IDEMPOTENCY_KEY_REUSED. Those a failing or
busy system gives are reached as it reaches them: 409 IDEMPOTENCY_IN_PROGRESS, 503
SERVICE_UNAVAILABLE (a handler's, and the authorizer's) and 500 INTERNAL in
test_dependency_errors.py (fault injection on the AWS endpoint, a second container of the send
function); 429 RATE_LIMITED in test_throttling.py (a stack with the stage's throttling set low);
400 and 413 from the HTTP layer in test_gateway.py.
"""

import uuid

import pytest

from tests.e2e.api_client import ApiClient, assert_error
from tests.e2e.conftest import OrgKey, create_key
from tests.e2e.local_stack import LocalStackProcess
from tests.e2e.test_sending import message

UNKNOWN_ID = "019e6e3d-b3a4-7c41-9d2e-000000000000"


@pytest.fixture(scope="module")
def read_only(local_stack: LocalStackProcess) -> OrgKey:
    return create_key(local_stack, "org_a", "messages:read")


@pytest.fixture(scope="module")
def send_only(local_stack: LocalStackProcess) -> OrgKey:
    return create_key(local_stack, "org_a", "messages:send")


@pytest.mark.parametrize("raw_body", ["not json", "[1, 2]", '"text"', ""])
def test_a_body_that_is_not_a_json_object_is_400(api: ApiClient, org_a: OrgKey, raw_body: str) -> None:
    answer = api.request("POST", "/v1/messages", key=org_a.key, raw_body=raw_body)
    assert_error(answer, 400, "BAD_REQUEST")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/messages"), ("GET", f"/v1/messages/{UNKNOWN_ID}"), ("DELETE", "/v1/messages/x")],
)
def test_no_key_is_401_on_every_route(api: ApiClient, method: str, path: str) -> None:
    assert_error(api.request(method, path, body={} if method == "POST" else None), 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer nope",  # malformed
        "Basic dXNlcjpwYXNz",  # another scheme
        "Bearer am_test_" + "A" * 40,  # well formed, unknown
        "Bearer am_live_" + "B" * 40,
    ],
)
def test_a_bad_key_is_401(api: ApiClient, authorization: str) -> None:
    answer = api.request("GET", f"/v1/messages/{UNKNOWN_ID}", headers={"Authorization": authorization})
    assert_error(answer, 401, "UNAUTHORIZED")


def test_a_revoked_key_is_401(api: ApiClient, local_stack: LocalStackProcess) -> None:
    # Given a key revoked before its first use (a used key stays cached by the authorizer, 300 s)
    revoked = create_key(local_stack, "org_revoked")
    done = local_stack.cli("keys", "revoke", "--org", "org_revoked", revoked.key_id)
    assert done.returncode == 0, done.stderr
    # Then it opens nothing
    assert_error(api.get(revoked.key, UNKNOWN_ID), 401, "UNAUTHORIZED")
    assert_error(api.send(revoked.key, message()), 401, "UNAUTHORIZED")


def test_a_key_without_the_routes_scope_is_403(api: ApiClient, read_only: OrgKey, send_only: OrgKey) -> None:
    error = assert_error(api.send(read_only.key, message()), 403, "FORBIDDEN")
    assert error["message"] == "missing required scope"
    assert_error(api.cancel(read_only.key, UNKNOWN_ID), 403, "FORBIDDEN")
    assert_error(api.get(send_only.key, UNKNOWN_ID), 403, "FORBIDDEN")


@pytest.mark.parametrize("message_id", [UNKNOWN_ID, "not-a-uuid", "%20"])
def test_an_unknown_message_is_404(api: ApiClient, org_a: OrgKey, message_id: str) -> None:
    assert_error(api.get(org_a.key, message_id), 404, "NOT_FOUND")
    assert_error(api.cancel(org_a.key, message_id), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/nothing"),
        ("PUT", "/v1/messages"),  # a known path, a method it does not have
        ("PATCH", f"/v1/messages/{UNKNOWN_ID}"),
        ("GET", "/"),
        ("GET", "/v2/messages"),
    ],
)
def test_an_unknown_route_is_404_with_or_without_a_key(
    api: ApiClient, org_a: OrgKey, method: str, path: str
) -> None:
    assert_error(api.request(method, path), 404, "NOT_FOUND")
    assert_error(api.request(method, path, key=org_a.key), 404, "NOT_FOUND")


def test_canceling_a_sent_message_is_409(api: ApiClient, org_a: OrgKey) -> None:
    sent = api.send(org_a.key, message()).data
    api.wait_for(org_a.key, sent["id"], lambda m: m["status"] == "delivered")
    assert_error(api.cancel(org_a.key, sent["id"]), 409, "MESSAGE_NOT_CANCELABLE")


def test_an_invalid_field_is_422_naming_each_field(api: ApiClient, org_a: OrgKey) -> None:
    answer = api.send(org_a.key, {"from": "+15555550100", "to": "12345", "text": "", "colour": "red"})
    error = assert_error(answer, 422, "VALIDATION_FAILED")
    assert set(error["details"]) == {"to", "text", "colour"}


def test_a_schedule_too_soon_is_422(api: ApiClient, org_a: OrgKey) -> None:
    answer = api.send(org_a.key, message(scheduled_at=api.stack_now()))
    assert set(assert_error(answer, 422, "VALIDATION_FAILED")["details"]) == {"scheduled_at"}


def test_an_idempotency_key_reused_with_another_body_is_422(api: ApiClient, org_a: OrgKey) -> None:
    key = f"e2e-{uuid.uuid4()}"
    assert api.send(org_a.key, message(), idempotency_key=key).status == 202
    answer = api.send(org_a.key, message(text="another text"), idempotency_key=key)
    assert_error(answer, 422, "IDEMPOTENCY_KEY_REUSED")
