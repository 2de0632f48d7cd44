"""``agentmessage invoke`` on every file in events/, as ``sam local invoke`` runs them: against the
running stack, which stores the sample key at start; the sample message is seeded here, as
events/README.md describes."""

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.e2e.api_client import ApiClient
from tests.e2e.local_stack import LocalStackProcess
from tests.support.messages import a_message, seed_message
from tests.support.samples import EVENTS, FUNCTION_OF, SAMPLE_KEY, SAMPLE_MESSAGE_ID, SAMPLE_ORG

NO_KEY_EVENT = '{"type": "REQUEST", "headers": {}}'  # rejected before any AWS call


def invoke(stack: LocalStackProcess, function: str, event_file: Path) -> tuple[int, Any]:
    done = stack.cli("invoke", function, "-e", str(event_file))
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)


def proxy_answer(result: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return int(result["statusCode"]), json.loads(result["body"])


@pytest.fixture(scope="module")
def seeded(local_stack: LocalStackProcess) -> None:
    """The sample message, queued, in the running stack (the stack stored the sample key itself)."""
    assert local_stack.state is not None
    refs = local_stack.state["stack"]["refs"]
    client = boto3.client(
        "dynamodb",
        endpoint_url=local_stack.state["endpoint_url"],
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    seed_message(client, refs["MessagesTable"], a_message(org_id=SAMPLE_ORG, message_id=SAMPLE_MESSAGE_ID))


def test_the_authorizer_sample_is_allowed_by_the_key_the_stack_stored(
    local_stack: LocalStackProcess, api: ApiClient
) -> None:
    # Given a running stack, and nothing stored by hand: When the authorizer runs on its sample event
    code, policy = invoke(local_stack, "AuthorizerFunction", EVENTS / "authorizer.json")
    # Then it allows the sample key, for the sample org, as events/README.md says
    assert code == 0, policy
    assert [statement["Effect"] for statement in policy["policyDocument"]["Statement"]] == ["Allow"]
    assert (policy["principalId"], policy["context"]["org_id"]) == ("key_sample", SAMPLE_ORG)
    assert set(policy["context"]["scopes"].split()) == {"messages:send", "messages:read"}
    # And the same key opens the running API for that org
    assert api.send(SAMPLE_KEY, {"from": "+15555550100", "to": "+15555550199", "text": "hi"}).status == 202


def test_there_is_a_sample_event_for_every_function() -> None:
    assert {path.name for path in EVENTS.glob("*.json")} == set(FUNCTION_OF)


def test_every_sample_event_gets_a_good_answer(
    local_stack: LocalStackProcess, api: ApiClient, seeded: None
) -> None:
    code, policy = invoke(local_stack, "AuthorizerFunction", EVENTS / "authorizer.json")
    assert code == 0
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert policy["context"]["org_id"] == SAMPLE_ORG

    code, result = invoke(local_stack, "SendMessageFunction", EVENTS / "send.json")
    status, body = proxy_answer(result)
    assert (code, status, body["success"], body["data"]["status"]) == (0, 202, True, "queued")

    code, result = invoke(local_stack, "GetMessageFunction", EVENTS / "get.json")
    status, body = proxy_answer(result)
    assert (code, status, body["data"]["id"]) == (0, 200, SAMPLE_MESSAGE_ID)

    # The dispatcher sends the sample message; the gateway then shows it sent to the sample key.
    code, result = invoke(local_stack, "DispatchFunction", EVENTS / "dispatch.json")
    assert (code, result) == (0, {"batchItemFailures": []})
    assert api.get(SAMPLE_KEY, SAMPLE_MESSAGE_ID).data["status"] in {"sent", "delivered"}

    # Its receipt (the sample's, or the sandbox's own through the stack's receipts queue) delivers it
    code, result = invoke(local_stack, "ReceiptFunction", EVENTS / "receipt.json")
    assert (code, result) == (0, {"batchItemFailures": []})
    assert api.get(SAMPLE_KEY, SAMPLE_MESSAGE_ID).data["status"] == "delivered"

    code, result = invoke(local_stack, "CancelMessageFunction", EVENTS / "cancel.json")
    status, body = proxy_answer(result)
    assert (code, status, body["error"]["code"]) == (0, 409, "MESSAGE_NOT_CANCELABLE")

    code, report = invoke(local_stack, "SweepFunction", EVENTS / "sweep.json")
    assert code == 0
    assert {"pages", "requeued", "expired", "failed", "truncated_shards"} <= set(report)


def test_a_function_error_is_printed_as_lambda_reports_it(local_stack: LocalStackProcess) -> None:
    # No Authorization header: the authorizer raises Unauthorized, as Lambda reports an error
    done = local_stack.cli(
        "invoke", "AuthorizerFunction", "-e", "-", stdin='{"type": "REQUEST", "headers": {}}'
    )
    assert done.returncode == 1
    error = json.loads(done.stdout)
    assert (error["errorType"], error["errorMessage"]) == ("Unauthorized", "Unauthorized")
    assert "Unauthorized" in done.stderr  # the function's log


def test_without_a_running_stack_the_environment_is_placeholders(
    local_stack: LocalStackProcess, tmp_path: Path
) -> None:
    done = local_stack.cli(
        "--state-file",
        str(tmp_path / "none.json"),
        "invoke",
        "AuthorizerFunction",
        "-e",
        "-",
        stdin=NO_KEY_EVENT,
    )
    assert "no local stack running" in done.stderr
    assert json.loads(done.stdout)["errorMessage"] == "Unauthorized"


def test_an_unknown_function_is_refused(local_stack: LocalStackProcess) -> None:
    done = local_stack.cli("invoke", "NoSuchFunction")
    assert done.returncode == 2
    assert "SendMessageFunction" in done.stderr
