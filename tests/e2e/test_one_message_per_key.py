"""One message per Idempotency-Key, and no 5xx once a message is stored, with the dispatch queue
slowed past the functions' read timeout (the local stack's fault endpoint), over real HTTP."""

import time
import uuid
from typing import Any

import boto3

from tests.e2e.api_client import ApiClient, Faults, assert_enveloped
from tests.e2e.conftest import create_key
from tests.e2e.local_stack import LocalStackProcess
from tests.e2e.test_sending import message

SLOW = 6.0  # seconds each SendMessage waits: past the 2 s read timeout of the send's clients


def stored_for(stack: LocalStackProcess, org_id: str) -> list[dict[str, Any]]:
    """Every message item of ``org_id`` in the stack's Messages table."""
    assert stack.state is not None
    client = boto3.client(
        "dynamodb",
        endpoint_url=stack.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    items: list[dict[str, Any]] = client.query(
        TableName=stack.state["stack"]["refs"]["MessagesTable"],
        KeyConditionExpression="org_id = :org",
        ExpressionAttributeValues={":org": {"S": org_id}},
        ConsistentRead=True,
    )["Items"]
    return items


def test_a_slow_dispatch_queue_makes_one_message_per_key_and_every_answer_202(
    api: ApiClient, local_stack: LocalStackProcess, faults: Faults
) -> None:
    # Given an org whose every enqueue waits past the send function's read timeout
    org = create_key(local_stack, f"org_{uuid.uuid4().hex[:8]}")
    fault = faults.add(service="sqs", operation="SendMessage", match=org.org_id, fault="delay", seconds=SLOW)
    body = message()

    # When a client sends under a key, and retries twice as a client whose call timed out would
    answers = []
    for _ in range(3):
        started = time.monotonic()
        answers.append((api.send(org.key, body, idempotency_key="order-slow"), time.monotonic() - started))

    # Then every answer is 202, well inside the function's timeout, and all name the same message
    for answer, elapsed in answers:
        assert_enveloped(answer)
        assert answer.status == 202, answer.body
        assert elapsed < 20
    ids = {answer.data["id"] for answer, _ in answers}
    assert len(ids) == 1
    (message_id,) = ids
    # And one message is stored for it, though its enqueue was slowed past the timeout each time
    assert [item["id"]["S"] for item in stored_for(local_stack, org.org_id)] == [message_id]
    assert faults.get(fault["id"])["hits"] >= 1

    # When the queue recovers and the sweeper offers it again past its grace
    faults.clear()
    api.advance_clock(120)
    delivered = api.wait_for(org.key, message_id, lambda shown: shown["status"] == "delivered")

    # Then it is delivered, handed to the carrier once (one claim), and still the only message
    assert delivered["status"] == "delivered"
    (item,) = stored_for(local_stack, org.org_id)
    assert int(item["attempts"]["N"]) == 1
    assert item["provider_message_id"]["S"] == f"sandbox-{message_id}"
