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
