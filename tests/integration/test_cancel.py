"""DELETE /v1/messages/{id} through the cancel handler, against moto."""

from datetime import timedelta
from typing import Any

import pytest

from agentmessage.domain import clock
from agentmessage.domain.status import Status
from tests.integration.conftest import Aws
from tests.support.api import assert_error, enveloped
from tests.support.events import authorizer_context, message_event, send_event
from tests.support.messages import ORG, OTHER_ORG, ZERO_COST, send_body, set_status, stored_status

CANCEL = "CancelMessageFunction"


def sent_message(invoke: Any, **overrides: Any) -> dict[str, Any]:
    event = send_event(send_body(**overrides), authorizer=authorizer_context())
    data: dict[str, Any] = enveloped(invoke("SendMessageFunction")(event), event).data
    return data


def cancel(invoke: Any, message_id: str, **context: Any) -> Any:
    event = message_event("DELETE", message_id, authorizer=authorizer_context(**context))
    return enveloped(invoke(CANCEL)(event), event)


def schedule_names(aws: Aws) -> list[str]:
    entries = aws.client("scheduler").list_schedules(GroupName=aws.stack.refs["MessageScheduleGroup"])
    return [entry["Name"] for entry in entries["Schedules"]]


def test_a_queued_message_is_canceled_unbilled(aws: Aws, invoke: Any) -> None:
    # Given a queued message
    accepted = sent_message(invoke)

    # When it is canceled
    answer = cancel(invoke, accepted["id"])

    # Then it is 200 canceled, canceled_at set, nothing billed, and the table agrees
    assert answer.status == 200
    assert answer.data["id"] == accepted["id"]
    assert answer.data["status"] == "canceled"
    assert answer.data["canceled_at"] is not None
    assert answer.data["canceled_at"].endswith("Z")
    assert answer.data["cost"] == ZERO_COST
    assert answer.data["sent_at"] is None
    dynamodb, table = aws.client("dynamodb"), aws.stack.refs["MessagesTable"]
    assert stored_status(dynamodb, table, ORG, accepted["id"]) == "canceled"


def test_canceling_twice_answers_the_same_message(aws: Aws, invoke: Any) -> None:
    # Given a message already canceled
    accepted = sent_message(invoke)
    first = cancel(invoke, accepted["id"])

    # When it is canceled again
    second = cancel(invoke, accepted["id"])

    # Then the answer is 200 with the same message (canceled_at unchanged)
    assert second.status == 200
    assert second.data == first.data


@pytest.mark.parametrize(
    "status", [Status.SENDING, Status.SENT, Status.DELIVERED, Status.FAILED, Status.EXPIRED]
)
def test_a_message_past_queued_is_not_cancelable(aws: Aws, invoke: Any, status: Status) -> None:
    # Given a message the pipeline has moved on
    accepted = sent_message(invoke)
    dynamodb, table = aws.client("dynamodb"), aws.stack.refs["MessagesTable"]
    set_status(dynamodb, table, ORG, accepted["id"], status)

    # When it is canceled
    answer = cancel(invoke, accepted["id"])

    # Then it is 409 MESSAGE_NOT_CANCELABLE and the message is untouched
    assert_error(answer, 409, "MESSAGE_NOT_CANCELABLE")
    assert stored_status(dynamodb, table, ORG, accepted["id"]) == status.value


def test_canceling_a_scheduled_message_deletes_its_schedule(aws: Aws, invoke: Any) -> None:
    # Given a message scheduled an hour ahead (so a schedule exists)
    accepted = sent_message(invoke, scheduled_at=clock.to_iso(clock.utc_now() + timedelta(hours=1)))
    assert schedule_names(aws) == [accepted["id"]]

    # When it is canceled
    answer = cancel(invoke, accepted["id"])

    # Then it is canceled and its schedule is gone
    assert answer.data["status"] == "canceled"
    assert schedule_names(aws) == []


def test_a_schedule_already_gone_does_not_fail_the_cancel(aws: Aws, invoke: Any) -> None:
    # Given a scheduled message whose schedule was deleted already
    accepted = sent_message(invoke, scheduled_at=clock.to_iso(clock.utc_now() + timedelta(hours=1)))
    aws.client("scheduler").delete_schedule(
        Name=accepted["id"], GroupName=aws.stack.refs["MessageScheduleGroup"]
    )

    # When it is canceled
    answer = cancel(invoke, accepted["id"])

    # Then the cancel still succeeds
    assert answer.status == 200
    assert answer.data["status"] == "canceled"


def test_another_orgs_message_is_404_and_stays_queued(aws: Aws, invoke: Any) -> None:
    # Given a message of org_a
    accepted = sent_message(invoke)

    # When org_b cancels it by its id
    answer = cancel(invoke, accepted["id"], org_id=OTHER_ORG)

    # Then it is NOT_FOUND, and org_a's message is still queued
    assert_error(answer, 404, "NOT_FOUND")
    dynamodb, table = aws.client("dynamodb"), aws.stack.refs["MessagesTable"]
    assert stored_status(dynamodb, table, ORG, accepted["id"]) == "queued"
    assert stored_status(dynamodb, table, OTHER_ORG, accepted["id"]) is None


@pytest.mark.parametrize("message_id", ["not-a-uuid", "0196a0b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b"])
def test_a_malformed_or_unknown_id_is_404(aws: Aws, invoke: Any, message_id: str) -> None:
    # Given an id that names no message of the org
    # When it is canceled
    answer = cancel(invoke, message_id)

    # Then it is NOT_FOUND
    assert_error(answer, 404, "NOT_FOUND")


def test_without_authorizer_context_the_handler_answers_401(aws: Aws, invoke: Any) -> None:
    # Given a queued message and a request without the authorizer's context
    accepted = sent_message(invoke)
    event = message_event("DELETE", accepted["id"], authorizer=None)

    # When it is canceled
    answer = enveloped(invoke(CANCEL)(event), event)

    # Then it is UNAUTHORIZED and the message is still queued
    assert_error(answer, 401, "UNAUTHORIZED")
    assert (
        stored_status(aws.client("dynamodb"), aws.stack.refs["MessagesTable"], ORG, accepted["id"])
        == "queued"
    )


def test_cancel_needs_the_send_scope(aws: Aws, invoke: Any) -> None:
    # Given a queued message and a read-only key
    accepted = sent_message(invoke)

    # When it cancels
    answer = cancel(invoke, accepted["id"], scopes="messages:read")

    # Then it is FORBIDDEN and the message is still queued
    assert_error(answer, 403, "FORBIDDEN", "missing required scope")
    assert (
        stored_status(aws.client("dynamodb"), aws.stack.refs["MessagesTable"], ORG, accepted["id"])
        == "queued"
    )
