"""The DynamoDB calls each route makes, counted with botocore's event hooks on the handlers' client.

Get is one GetItem, cancel is one conditional UpdateItem whatever the outcome (the failed
condition returns the old item, so no second read), a send without Idempotency-Key is one PutItem,
and a malformed id costs nothing.
"""

import json
from typing import Any

import pytest

from agentmessage.domain.status import Status
from tests.integration.conftest import Aws
from tests.support.api import enveloped
from tests.support.dynamo_calls import DynamoCalls, dynamodb_calls
from tests.support.events import authorizer_context, message_event, send_event
from tests.support.messages import ORG, send_body, set_status


def call(invoke: Any, function: str, event: dict[str, Any]) -> int:
    return enveloped(invoke(function)(event), event).status


def queued_message(invoke: Any) -> str:
    event = send_event(send_body(), authorizer=authorizer_context())
    message_id: str = enveloped(invoke("SendMessageFunction")(event), event).data["id"]
    return message_id


def cancel_event(message_id: str) -> dict[str, Any]:
    return message_event("DELETE", message_id, authorizer=authorizer_context())


def assert_one_conditional_cancel(calls: DynamoCalls, message_id: str) -> None:
    assert calls.operations == ["UpdateItem"]
    params = calls.calls[0].params
    assert params["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert params["Key"] == {"org_id": {"S": ORG}, "id": {"S": message_id}}
    assert params["ConditionExpression"]


def test_get_is_one_get_item(aws: Aws, invoke: Any) -> None:
    # Given a message
    message_id = queued_message(invoke)

    # When it is read
    with dynamodb_calls() as calls:
        status = call(
            invoke, "GetMessageFunction", message_event("GET", message_id, authorizer=authorizer_context())
        )

    # Then the handler made exactly one GetItem, strongly consistent, on the org's key
    assert status == 200
    assert calls.operations == ["GetItem"]
    params = calls.calls[0].params
    assert params["Key"] == {"org_id": {"S": ORG}, "id": {"S": message_id}}
    assert params["ConsistentRead"] is True


def test_a_successful_cancel_is_one_conditional_update(aws: Aws, invoke: Any) -> None:
    # Given a queued message
    message_id = queued_message(invoke)

    # When it is canceled
    with dynamodb_calls() as calls:
        status = call(invoke, "CancelMessageFunction", cancel_event(message_id))

    # Then one UpdateItem did it
    assert status == 200
    assert_one_conditional_cancel(calls, message_id)


def test_a_second_cancel_is_one_update_and_no_read(aws: Aws, invoke: Any) -> None:
    # Given a canceled message
    message_id = queued_message(invoke)
    call(invoke, "CancelMessageFunction", cancel_event(message_id))

    # When it is canceled again
    with dynamodb_calls() as calls:
        status = call(invoke, "CancelMessageFunction", cancel_event(message_id))

    # Then the failed condition's old item answered it: still one UpdateItem
    assert status == 200
    assert_one_conditional_cancel(calls, message_id)


def test_the_409_path_is_one_update_and_no_read(aws: Aws, invoke: Any) -> None:
    # Given a message already sent
    message_id = queued_message(invoke)
    set_status(aws.client("dynamodb"), aws.stack.refs["MessagesTable"], ORG, message_id, Status.SENT)

    # When it is canceled
    with dynamodb_calls() as calls:
        status = call(invoke, "CancelMessageFunction", cancel_event(message_id))

    # Then one UpdateItem decided the 409
    assert status == 409
    assert_one_conditional_cancel(calls, message_id)


def test_canceling_an_unknown_message_is_one_update(aws: Aws, invoke: Any) -> None:
    # Given a well-formed id that names nothing
    message_id = "0196a0b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b"

    # When it is canceled
    with dynamodb_calls() as calls:
        status = call(invoke, "CancelMessageFunction", cancel_event(message_id))

    # Then one UpdateItem found nothing: 404
    assert status == 404
    assert_one_conditional_cancel(calls, message_id)


def test_a_send_without_idempotency_key_is_one_put_item_then_its_enqueue_noted(aws: Aws, invoke: Any) -> None:
    # Given a valid send without Idempotency-Key
    event = send_event(send_body(), authorizer=authorizer_context())

    # When it is sent
    with dynamodb_calls() as calls:
        status = call(invoke, "SendMessageFunction", event)

    # Then one conditional PutItem stored it, and once the enqueue succeeded, one conditional
    # UpdateItem noted it (so the sweeper leaves it waiting on the queue)
    assert status == 202
    assert calls.operations == ["PutItem", "UpdateItem"]
    assert calls.calls[0].params["ConditionExpression"] == "attribute_not_exists(id)"
    noted = calls.calls[1].params
    assert noted["ConditionExpression"] == "#status = :from_queued"
    assert noted["UpdateExpression"] == "SET due_at = :due, enqueued_at = :enqueued"


def test_a_send_with_an_idempotency_key_stores_the_message_and_the_keys_record_together(
    aws: Aws, invoke: Any
) -> None:
    # Given a valid send with an Idempotency-Key
    event = send_event(send_body(), authorizer=authorizer_context(), headers={"Idempotency-Key": "order-9"})

    # When it is sent
    with dynamodb_calls() as calls:
        status = call(invoke, "SendMessageFunction", event)

    # Then Powertools' record, one transaction of the key's record and the message, the enqueue's
    # note, Powertools' record completed: and the key itself is stored nowhere
    assert status == 202
    assert calls.operations == ["PutItem", "TransactWriteItems", "UpdateItem", "UpdateItem"]
    (record, message) = calls.calls[1].params["TransactItems"]
    assert record["Put"]["TableName"] == aws.stack.refs["IdempotencyTable"]
    assert message["Put"]["TableName"] == aws.stack.refs["MessagesTable"]
    assert all(put["Put"]["ConditionExpression"] == "attribute_not_exists(id)" for put in (record, message))
    assert "order-9" not in json.dumps([call.params for call in calls.calls])


def test_a_refused_send_makes_no_call(aws: Aws, invoke: Any) -> None:
    # Given an invalid body
    event = send_event(send_body(to="nope"), authorizer=authorizer_context())

    # When it is sent
    with dynamodb_calls() as calls:
        status = call(invoke, "SendMessageFunction", event)

    # Then nothing was read or written
    assert status == 422
    assert calls.operations == []


@pytest.mark.parametrize(
    ("function", "method"), [("GetMessageFunction", "GET"), ("CancelMessageFunction", "DELETE")]
)
def test_a_malformed_id_makes_no_call(aws: Aws, invoke: Any, function: str, method: str) -> None:
    # Given an id that cannot name a message
    event = message_event(method, "not-a-message-id", authorizer=authorizer_context())

    # When the route is called
    with dynamodb_calls() as calls:
        status = call(invoke, function, event)

    # Then it is 404 without touching DynamoDB
    assert status == 404
    assert calls.operations == []
