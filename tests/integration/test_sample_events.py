"""Every file in ``events/`` runs on its function and gets a good answer, as with
``sam local invoke <Fn> -e events/<file>.json``."""

import json
from typing import Any

import pytest

from agentmessage.domain.message import Mode
from agentmessage.keys.api_keys import hash_key, is_well_formed
from tests.integration.conftest import Aws
from tests.support.api import enveloped
from tests.support.keys import store_key
from tests.support.messages import a_message, seed_message, stored_status
from tests.support.samples import EVENTS, FUNCTION_OF, SAMPLE_KEY, SAMPLE_MESSAGE_ID, SAMPLE_ORG


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def seed_sample_message(aws: Aws) -> None:
    seed_message(
        aws.client("dynamodb"),
        aws.stack.refs["MessagesTable"],
        a_message(org_id=SAMPLE_ORG, message_id=SAMPLE_MESSAGE_ID),
    )


def test_there_is_one_sample_event_per_function() -> None:
    # Given the events folder
    # When its JSON files are listed
    files = {path.name for path in EVENTS.glob("*.json")}

    # Then each function has exactly its file
    assert files == set(FUNCTION_OF)


def test_the_api_samples_carry_the_sample_keys_context() -> None:
    # Given the documented sample key
    assert is_well_formed(SAMPLE_KEY)

    # When the API samples are read
    for name in ("send.json", "get.json", "cancel.json"):
        event = sample(name)

        # Then their authorizer context is what the authorizer returns for that key
        context = event["requestContext"]["authorizer"]
        assert (context["org_id"], context["key_id"], context["mode"]) == (SAMPLE_ORG, "key_sample", "test")
        assert set(context["scopes"].split()) == {"messages:send", "messages:read"}
        assert event["headers"]["Authorization"] == f"Bearer {SAMPLE_KEY}"
        assert event["multiValueHeaders"]["Authorization"] == [f"Bearer {SAMPLE_KEY}"]
        assert event["requestContext"]["requestId"]
        assert event["requestContext"]["identity"]["sourceIp"]


def test_the_authorizer_sample_is_allowed_once_the_key_is_stored(aws: Aws, invoke: Any) -> None:
    # Given the sample key stored (its hash only) for the sample org
    _, record = store_key(
        aws.client("dynamodb"),
        aws.stack.refs["ApiKeysTable"],
        org_id=SAMPLE_ORG,
        key=SAMPLE_KEY,
        mode=Mode.TEST,
    )
    assert record.key_hash == hash_key(SAMPLE_KEY)

    # When the authorizer runs on its sample
    result = invoke("AuthorizerFunction")(sample("authorizer.json"))

    # Then the request is allowed for the sample org
    assert result["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert result["context"]["org_id"] == SAMPLE_ORG
    assert result["context"]["mode"] == "test"


@pytest.mark.parametrize(
    ("name", "seeded", "status"),
    [("send.json", False, 202), ("get.json", True, 200), ("cancel.json", True, 200)],
)
def test_each_api_sample_gets_a_2xx_in_the_envelope(
    aws: Aws, invoke: Any, name: str, seeded: bool, status: int
) -> None:
    # Given the sample message exists where the sample names it
    if seeded:
        seed_sample_message(aws)
    event = sample(name)

    # When the function runs on its sample
    answer = enveloped(invoke(FUNCTION_OF[name])(event), event)

    # Then it answers with success
    assert answer.status == status
    if seeded:
        assert answer.data["id"] == SAMPLE_MESSAGE_ID


def test_the_dispatch_sample_sends_the_message_with_no_batch_failures(aws: Aws, invoke: Any) -> None:
    # Given the sample message, queued
    seed_sample_message(aws)

    # When the dispatcher runs on its sample
    result = invoke("DispatchFunction")(sample("dispatch.json"))

    # Then no record failed and the sandbox carrier took the message
    assert result == {"batchItemFailures": []}
    status = stored_status(
        aws.client("dynamodb"), aws.stack.refs["MessagesTable"], SAMPLE_ORG, SAMPLE_MESSAGE_ID
    )
    assert status == "sent"


def test_the_receipt_sample_delivers_the_sent_message(aws: Aws, invoke: Any) -> None:
    # Given the sample message, sent by the dispatcher on its sample
    seed_sample_message(aws)
    assert invoke("DispatchFunction")(sample("dispatch.json")) == {"batchItemFailures": []}

    # When the receipt function runs on its sample (the sandbox send's final DELIVERED)
    result = invoke("ReceiptFunction")(sample("receipt.json"))

    # Then no record failed and the message is delivered
    assert result == {"batchItemFailures": []}
    status = stored_status(
        aws.client("dynamodb"), aws.stack.refs["MessagesTable"], SAMPLE_ORG, SAMPLE_MESSAGE_ID
    )
    assert status == "delivered"


def test_the_sweep_sample_returns_a_report(aws: Aws, invoke: Any) -> None:
    # Given a stack with no message due
    # When the sweeper runs on its sample
    report = invoke("SweepFunction")(sample("sweep.json"))

    # Then it reports what it did: every shard read, nothing to do
    assert report["requeued"] == report["expired"] == report["failed"] == 0
    assert report["pages"] >= 1
    assert report["truncated_shards"] == []
