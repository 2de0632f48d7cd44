"""The REQUEST authorizer, against a moto ApiKeys table holding hashes only."""

from typing import Any

import pytest

from agentmessage.domain.message import Mode
from agentmessage.keys.api_keys import generate_key, hash_key
from tests.integration.conftest import Aws
from tests.support.dynamo_calls import dynamodb_calls
from tests.support.events import ACCOUNT, API_ID, REGION, STAGE, authorizer_event
from tests.support.keys import store_key

AUTHORIZER = "AuthorizerFunction"
WHOLE_API = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/*/*"


def keys_table(aws: Aws) -> str:
    return aws.stack.refs["ApiKeysTable"]


def rejected(invoke: Any, authorization: str | None, event: dict[str, Any] | None = None) -> str:
    """The message of the exception the authorizer raised (API Gateway answers 401 for "Unauthorized")."""
    with pytest.raises(Exception) as raised:  # noqa: PT011 - the message is what API Gateway reads
        invoke(AUTHORIZER)(event or authorizer_event(authorization))
    return str(raised.value)


def test_a_stored_key_gets_an_allow_policy_for_the_whole_api(aws: Aws, invoke: Any) -> None:
    # Given a key stored for org_a with both scopes
    key, record = store_key(aws.client("dynamodb"), keys_table(aws), org_id="org_a")

    # When a request for one route presents it
    result = invoke(AUTHORIZER)(authorizer_event(f"Bearer {key}", method="POST", path="/v1/messages"))

    # Then the policy allows every route of the API, so a cached result serves them all
    assert result["principalId"] == record.key_id
    [statement] = result["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"
    assert statement["Resource"] == [WHOLE_API]
    # and the context names the org, the scopes (space separated), the key and its mode
    assert result["context"] == {
        "org_id": "org_a",
        "scopes": "messages:read messages:send",
        "key_id": record.key_id,
        "mode": "test",
    }


def test_the_same_policy_is_returned_whatever_route_was_asked(aws: Aws, invoke: Any) -> None:
    # Given a stored key
    key, _ = store_key(aws.client("dynamodb"), keys_table(aws))

    # When it is checked for a GET and for a DELETE of a message
    results = [
        invoke(AUTHORIZER)(authorizer_event(f"Bearer {key}", method=method, path="/v1/messages/abc"))
        for method in ("GET", "DELETE")
    ]

    # Then both policies cover the whole API
    for result in results:
        assert result["policyDocument"]["Statement"][0]["Resource"] == [WHOLE_API]


def test_a_live_key_carries_mode_live_and_its_own_scopes(aws: Aws, invoke: Any) -> None:
    # Given a live key that may only read
    key, _ = store_key(aws.client("dynamodb"), keys_table(aws), mode=Mode.LIVE, scopes=("messages:read",))

    # When it is presented
    result = invoke(AUTHORIZER)(authorizer_event(f"Bearer {key}"))

    # Then the context says so
    assert result["context"]["mode"] == "live"
    assert result["context"]["scopes"] == "messages:read"


def test_the_bearer_scheme_and_the_header_name_are_case_insensitive(aws: Aws, invoke: Any) -> None:
    # Given a stored key, presented as an HTTP/2 client would (lower-case header name and scheme)
    key, _ = store_key(aws.client("dynamodb"), keys_table(aws))
    event = authorizer_event(None)
    event["headers"] = {"authorization": f"bearer {key}"}
    event["multiValueHeaders"] = {"authorization": [f"bearer {key}"]}

    # When it is checked
    result = invoke(AUTHORIZER)(event)

    # Then it is allowed
    assert result["policyDocument"]["Statement"][0]["Effect"] == "Allow"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Basic {'a' * 40}",
        "am_test_" + "a" * 40,  # no scheme
        "Bearer am_prod_" + "a" * 40,
        "Bearer am_test_" + "a" * 39,
        "Bearer am_test_" + "a" * 41,
        "Bearer am_test_" + "a" * 39 + "-",
        "Bearer am_test_" + "a" * 39 + "é",
        "Bearer AM_TEST_" + "a" * 40,
        "Bearer am_test_" + "a" * 39 + "\n",
    ],
    ids=[
        "no-header",
        "empty",
        "scheme-only",
        "scheme-and-space",
        "basic",
        "no-scheme",
        "bad-prefix",
        "short",
        "long",
        "dash",
        "non-ascii",
        "upper-prefix",
        "newline",
    ],
)
def test_a_malformed_key_is_refused_without_any_lookup(
    aws: Aws, invoke: Any, authorization: str | None
) -> None:
    # Given a header whose key has the wrong shape
    # When the authorizer runs, counting DynamoDB calls
    with dynamodb_calls() as calls:
        message = rejected(invoke, authorization)

    # Then it raises "Unauthorized" (API Gateway's 401) and read nothing
    assert message == "Unauthorized"
    assert calls.operations == []


def test_an_unknown_key_is_refused_after_one_lookup(aws: Aws, invoke: Any) -> None:
    # Given a well-formed key that was never stored
    key = generate_key(Mode.TEST)

    # When it is presented
    with dynamodb_calls() as calls:
        message = rejected(invoke, f"Bearer {key}")

    # Then it is refused after one read by its hash
    assert message == "Unauthorized"
    assert calls.operations == ["GetItem"]
    assert calls.calls[0].params["Key"] == {"key_hash": {"S": hash_key(key)}}


def test_a_revoked_key_is_refused(aws: Aws, invoke: Any) -> None:
    # Given a stored key that was revoked
    key, _ = store_key(aws.client("dynamodb"), keys_table(aws), revoked=True)

    # When it is presented
    # Then it is refused
    assert rejected(invoke, f"Bearer {key}") == "Unauthorized"


def test_a_key_whose_prefix_disagrees_with_its_stored_mode_is_refused(aws: Aws, invoke: Any) -> None:
    # Given an am_test_ key whose record says live
    key, _ = store_key(aws.client("dynamodb"), keys_table(aws), mode=Mode.TEST, stored_mode=Mode.LIVE)

    # When it is presented
    # Then it is refused
    assert rejected(invoke, f"Bearer {key}") == "Unauthorized"


def test_only_the_keys_hash_is_stored(aws: Aws, invoke: Any) -> None:
    # Given a key stored and used once
    key, _ = store_key(aws.client("dynamodb"), keys_table(aws))
    invoke(AUTHORIZER)(authorizer_event(f"Bearer {key}"))

    # When the whole table is read
    items = aws.client("dynamodb").scan(TableName=keys_table(aws))["Items"]

    # Then the item is keyed by the SHA-256 and no attribute holds the key or its secret part
    [item] = items
    assert item["key_hash"] == {"S": hash_key(key)}
    secret = key.removeprefix("am_test_")
    assert key not in repr(items)
    assert secret not in repr(items)


@pytest.mark.parametrize("headers", [None, {}], ids=["null", "empty"])
def test_an_event_without_headers_is_refused_without_any_lookup(
    aws: Aws, invoke: Any, headers: dict[str, str] | None
) -> None:
    # Given an event with no headers at all (a hand-made test event, say)
    event = authorizer_event(None)
    event["headers"] = headers
    event["multiValueHeaders"] = headers

    # When the authorizer runs
    with dynamodb_calls() as calls:
        message = rejected(invoke, None, event)

    # Then it is "Unauthorized", not a KeyError, and nothing was read
    assert message == "Unauthorized"
    assert calls.operations == []


@pytest.mark.parametrize("second", ["lower", "repeated"])
def test_a_request_with_two_authorization_values_is_refused_without_a_lookup(
    aws: Aws, invoke: Any, second: str
) -> None:
    # Given a stored key, presented beside a second Authorization value
    key, _ = store_key(aws.client("dynamodb"), keys_table(aws), org_id="org_a")
    event = authorizer_event(f"Bearer {key}")
    other = f"Bearer {generate_key(Mode.TEST)}"
    if second == "lower":
        event["headers"]["authorization"] = other
        event["multiValueHeaders"]["authorization"] = [other]
    else:
        event["multiValueHeaders"]["Authorization"].append(other)

    # When the authorizer runs, it refuses: it may not pick one key of two
    with dynamodb_calls() as calls:
        assert rejected(invoke, None, event) == "Unauthorized"
    assert calls.operations == []
