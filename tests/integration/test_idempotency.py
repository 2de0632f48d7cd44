"""``Idempotency-Key`` on POST /v1/messages: Powertools idempotency on the moto Idempotency table."""

import json
from datetime import timedelta
from typing import Any

import pytest

from agentmessage.domain import clock
from agentmessage.integration.dispatch_triggers import AwsDispatchTriggers
from tests.integration.conftest import Aws
from tests.support.api import Answer, answer_of, assert_error, enveloped
from tests.support.containers import fresh_container
from tests.support.events import FakeLambdaContext, authorizer_context, send_event
from tests.support.messages import ORG, OTHER_ORG, all_items, send_body

SEND = "SendMessageFunction"


def send(
    invoke: Any, body: dict[str, Any], key: str | None, *, org_id: str = ORG, header: str = "Idempotency-Key"
) -> Answer:
    headers = {header: key} if key is not None else {}
    event = send_event(body, authorizer=authorizer_context(org_id=org_id), headers=headers)
    return enveloped(invoke(SEND)(event), event)


def stored_messages(aws: Aws) -> list[dict[str, Any]]:
    return all_items(aws.client("dynamodb"), aws.stack.refs["MessagesTable"])


def queued_dispatches(aws: Aws) -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    received = sqs.receive_message(QueueUrl=aws.stack.refs["DispatchQueue"], MaxNumberOfMessages=10)
    return [json.loads(message["Body"]) for message in received.get("Messages", [])]


def test_a_retry_with_the_same_body_returns_the_same_message_and_creates_nothing(
    aws: Aws, invoke: Any
) -> None:
    # Given a send accepted under an Idempotency-Key
    first = send(invoke, send_body(), "order-42")

    # When the client retries it with the same key and body
    second = send(invoke, send_body(), "order-42")

    # Then both answers are the same message, stored once and enqueued once
    assert (first.status, second.status) == (202, 202)
    assert second.data == first.data
    assert len(stored_messages(aws)) == 1
    assert queued_dispatches(aws) == [{"org_id": ORG, "id": first.data["id"]}]


def test_the_header_name_is_case_insensitive(aws: Aws, invoke: Any) -> None:
    # Given a send whose client wrote the header in lower case
    first = send(invoke, send_body(), "order-44", header="idempotency-key")

    # When it is retried with the canonical spelling
    second = send(invoke, send_body(), "order-44")

    # Then the key was honoured both times
    assert second.data["id"] == first.data["id"]
    assert len(stored_messages(aws)) == 1


def test_the_same_key_with_another_body_is_422_key_reused(aws: Aws, invoke: Any) -> None:
    # Given a send accepted under a key
    send(invoke, send_body(), "order-45")

    # When the key is reused for another message
    answer = send(invoke, send_body(text="Something else"), "order-45")

    # Then it is IDEMPOTENCY_KEY_REUSED and nothing new is stored
    assert_error(answer, 422, "IDEMPOTENCY_KEY_REUSED")
    assert len(stored_messages(aws)) == 1


def test_the_same_key_in_another_org_is_independent(aws: Aws, invoke: Any) -> None:
    # Given org_a sent under a key
    mine = send(invoke, send_body(), "order-46", org_id=ORG)

    # When org_b sends the same body under the same key
    theirs = send(invoke, send_body(), "order-46", org_id=OTHER_ORG)

    # Then org_b gets its own message
    assert theirs.status == 202
    assert theirs.data["id"] != mine.data["id"]
    assert sorted(item["org_id"]["S"] for item in stored_messages(aws)) == [ORG, OTHER_ORG]


def test_a_key_still_in_progress_is_409(aws: Aws, invoke: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a first request under a key that is still running: it has stored its message and is
    # about to enqueue it when the client's retry arrives at another container. The retry runs
    # inside the first request's enqueue, on a second import of the send handler, so the
    # overlap is certain (no threads, no sleeps) and both requests go through the real handler,
    # with whatever Powertools computes for the key and the payload.
    second_container = fresh_container("functions.send.app")
    retries: list[Answer] = []
    enqueue = AwsDispatchTriggers.enqueue

    def enqueue_while_the_client_retries(self: AwsDispatchTriggers, org_id: str, message_id: str) -> None:
        if not retries:
            # When the client retries with the same key and body meanwhile
            event = send_event(
                send_body(), authorizer=authorizer_context(), headers={"Idempotency-Key": "order-47"}
            )
            retries.append(enveloped(second_container.lambda_handler(event, FakeLambdaContext()), event))
        enqueue(self, org_id, message_id)

    monkeypatch.setattr(AwsDispatchTriggers, "enqueue", enqueue_while_the_client_retries)
    first_event = send_event(
        send_body(), authorizer=authorizer_context(), headers={"Idempotency-Key": "order-47"}
    )
    first = answer_of(invoke(SEND)(first_event))

    # Then the retry is told to come back later and created nothing; the first request completed
    [retry] = retries
    assert_error(retry, 409, "IDEMPOTENCY_IN_PROGRESS")
    assert retry.headers["Retry-After"] == "1"
    assert first.status == 202
    assert len(stored_messages(aws)) == 1
    assert queued_dispatches(aws) == [{"org_id": ORG, "id": first.data["id"]}]


def test_a_retry_is_answered_even_once_its_schedule_is_too_close_to_validate(
    aws: Aws, invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a send accepted for 90 seconds ahead under a key
    body = send_body(scheduled_at=clock.to_iso(clock.utc_now() + timedelta(seconds=90)))
    first = send(invoke, body, "order-50")

    # When the client retries it 45 seconds later, when scheduled_at is less than 60 s away
    later = clock.utc_now() + timedelta(seconds=45)
    monkeypatch.setattr(clock, "utc_now", lambda: later)
    retry = send(invoke, body, "order-50")

    # Then it gets the first answer, not a validation failure
    assert retry.status == 202
    assert retry.data == first.data


def test_a_refused_body_does_not_use_up_the_key(aws: Aws, invoke: Any) -> None:
    # Given a send under a key that failed validation
    refused = send(invoke, send_body(to="nope"), "order-49")
    assert_error(refused, 422, "VALIDATION_FAILED")

    # When the client fixes the body and sends it under the same key
    fixed = send(invoke, send_body(), "order-49")

    # Then it is accepted
    assert fixed.status == 202
    assert len(stored_messages(aws)) == 1


@pytest.mark.parametrize(
    "key", ["k" * 256, "ключ-1", "", "tab\there"], ids=["too-long", "non-ascii", "empty", "control"]
)
def test_an_invalid_idempotency_key_is_422(aws: Aws, invoke: Any, key: str) -> None:
    # Given a send with an unusable Idempotency-Key
    # When it is sent
    answer = send(invoke, send_body(), key)

    # Then the header is named as the bad field, and nothing is stored
    assert_error(answer, 422, "VALIDATION_FAILED")
    assert set(answer.error["details"]) == {"Idempotency-Key"}
    assert stored_messages(aws) == []


def test_the_longest_allowed_key_is_accepted(aws: Aws, invoke: Any) -> None:
    # Given a key of 255 printable ASCII characters
    # When it is used
    answer = send(invoke, send_body(), "k" * 255)

    # Then the send is accepted
    assert answer.status == 202


# -- one message per key, whatever became of the first attempt -----------------------------------------


class Killed(BaseException):
    """The runtime ending an invocation mid-way (a timeout, an out-of-memory kill): no handler runs."""


def send_in(invoke: Any, key: str, *, remaining_ms: int = 60_000) -> dict[str, Any]:
    """The raw proxy answer of one send under ``key``, in an invocation with ``remaining_ms`` left."""
    context = FakeLambdaContext()
    context.remaining_ms = remaining_ms
    event = send_event(send_body(), authorizer=authorizer_context(), headers={"Idempotency-Key": key})
    handler = fresh_container("functions.send.app").lambda_handler
    answer: dict[str, Any] = handler(event, context)
    return answer


def test_a_first_attempt_killed_after_storing_its_message_leaves_the_retry_that_message(
    aws: Aws, invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a first attempt killed right after its message was stored (before its enqueue), whose
    # invocation deadline has passed, so Powertools' record, still in progress, has expired
    def killed(self: AwsDispatchTriggers, org_id: str, message_id: str) -> None:
        raise Killed

    monkeypatch.setattr(AwsDispatchTriggers, "enqueue", killed)
    with pytest.raises(Killed):
        send_in(invoke, "order-60", remaining_ms=1)
    (stored,) = stored_messages(aws)
    monkeypatch.undo()

    # When the client retries with the same key (the first run may now run again)
    retry = answer_of(send_in(invoke, "order-60"))

    # Then it answers the message the first attempt stored, and stores no other; its enqueue is done now
    assert retry.status == 202
    assert retry.data["id"] == stored["id"]["S"]
    assert len(stored_messages(aws)) == 1
    assert queued_dispatches(aws) == [{"org_id": ORG, "id": stored["id"]["S"]}]


def test_a_first_attempt_that_answered_503_though_its_message_was_stored_leaves_the_retry_that_message(
    aws: Aws, invoke: Any
) -> None:
    # Given the storing transaction applied, but its answer lost (a read timeout): the send is a 503
    from botocore.exceptions import ReadTimeoutError

    from agentmessage.integration import aws_clients
    from agentmessage.integration.time_budget import API_ONCE

    lost = {"count": 0}

    def lose_the_answer(**_: Any) -> None:
        if lost["count"] == 0:
            lost["count"] += 1
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    client = aws_clients.dynamodb(API_ONCE)
    client.meta.events.register("after-call.dynamodb.TransactWriteItems", lose_the_answer)
    first = answer_of(send_in(invoke, "order-61"))
    assert_error(first, 503, "SERVICE_UNAVAILABLE")
    (stored,) = stored_messages(aws)

    # When the client retries with the same key
    retry = answer_of(send_in(invoke, "order-61"))

    # Then it answers the stored message; there is one message, and it is on its way
    assert retry.status == 202
    assert retry.data["id"] == stored["id"]["S"]
    assert len(stored_messages(aws)) == 1
    assert queued_dispatches(aws) == [{"org_id": ORG, "id": stored["id"]["S"]}]


def test_a_record_that_could_not_be_completed_still_answers_202(
    aws: Aws, invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Powertools' record, completed after the message is stored and enqueued, throttled
    from botocore.exceptions import ClientError

    from agentmessage.integration import aws_clients
    from agentmessage.integration.time_budget import API_ONCE

    idempotency_table = aws.stack.refs["IdempotencyTable"]

    def throttle_the_completion(params: dict[str, Any], **_: Any) -> None:
        if params.get("TableName") == idempotency_table:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "UpdateItem"
            )

    aws_clients.dynamodb(API_ONCE).meta.events.register(
        "provide-client-params.dynamodb.UpdateItem", throttle_the_completion
    )

    # When a message is sent under a key, in an invocation whose record expires at once
    first = answer_of(send_in(invoke, "order-62", remaining_ms=1))

    # Then the message, stored and enqueued, is answered 202 all the same
    assert first.status == 202
    aws_clients.dynamodb(API_ONCE).meta.events.unregister(
        "provide-client-params.dynamodb.UpdateItem", throttle_the_completion
    )
    # And the retry (its record never completed) answers the same message, storing no other
    retry = answer_of(send_in(invoke, "order-62"))
    assert (retry.status, retry.data["id"]) == (202, first.data["id"])
    assert len(stored_messages(aws)) == 1
