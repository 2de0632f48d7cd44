"""GET /v1/messages/{id} through the get handler, against moto."""

from typing import Any

import pytest

from tests.integration.conftest import Aws
from tests.support.api import assert_error, enveloped
from tests.support.events import authorizer_context, message_event, send_event
from tests.support.messages import API_FIELDS, ORG, OTHER_ORG, ZERO_COST, send_body

GET = "GetMessageFunction"


def sent_message(invoke: Any, org_id: str = ORG) -> dict[str, Any]:
    event = send_event(send_body(), authorizer=authorizer_context(org_id=org_id))
    data: dict[str, Any] = enveloped(invoke("SendMessageFunction")(event), event).data
    return data


def test_the_owner_reads_the_message_as_it_was_accepted(aws: Aws, invoke: Any) -> None:
    # Given a message sent by org_a
    accepted = sent_message(invoke)

    # When org_a reads it with a read-only key
    event = message_event("GET", accepted["id"], authorizer=authorizer_context(scopes="messages:read"))
    answer = enveloped(invoke(GET)(event), event)

    # Then it is 200 with the same message, internal fields hidden
    assert answer.status == 200
    assert answer.data == accepted
    assert set(answer.data) == API_FIELDS
    assert answer.data["cost"] == ZERO_COST


def test_another_orgs_message_is_404_not_403(aws: Aws, invoke: Any) -> None:
    # Given a message of org_a
    accepted = sent_message(invoke, org_id=ORG)

    # When org_b asks for it by its id
    event = message_event("GET", accepted["id"], authorizer=authorizer_context(org_id=OTHER_ORG))
    answer = enveloped(invoke(GET)(event), event)

    # Then it does not exist for org_b
    assert_error(answer, 404, "NOT_FOUND", "message not found")


@pytest.mark.parametrize(
    "message_id",
    [
        "not-a-uuid",
        "0196A0B2-3C4D-7E5F-8A6B-7C8D9E0F1A2B",  # upper case is not the canonical form
        "0196a0b23c4d7e5f8a6b7c8d9e0f1a2b",
        "0196a0b2-3c4d-7e5f-8a6b-7c8d9e0f1a2",
        "%27%20OR%201=1",
    ],
)
def test_a_malformed_id_is_404(aws: Aws, invoke: Any, message_id: str) -> None:
    # Given an id that cannot name a message
    event = message_event("GET", message_id, authorizer=authorizer_context())

    # When it is read
    answer = enveloped(invoke(GET)(event), event)

    # Then it is NOT_FOUND
    assert_error(answer, 404, "NOT_FOUND")


def test_an_unknown_well_formed_id_is_404(aws: Aws, invoke: Any) -> None:
    # Given a well-formed id that was never used
    event = message_event("GET", "0196a0b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b", authorizer=authorizer_context())

    # When it is read
    answer = enveloped(invoke(GET)(event), event)

    # Then it is NOT_FOUND
    assert_error(answer, 404, "NOT_FOUND")


def test_without_authorizer_context_the_handler_answers_401(aws: Aws, invoke: Any) -> None:
    # Given a message, and a request for it without the authorizer's context
    accepted = sent_message(invoke)
    event = message_event("GET", accepted["id"], authorizer=None)

    # When it is read
    answer = enveloped(invoke(GET)(event), event)

    # Then it is UNAUTHORIZED
    assert_error(answer, 401, "UNAUTHORIZED")


def test_without_the_read_scope_it_is_403(aws: Aws, invoke: Any) -> None:
    # Given a message, and a key that may only send
    accepted = sent_message(invoke)
    event = message_event("GET", accepted["id"], authorizer=authorizer_context(scopes="messages:send"))

    # When it reads
    answer = enveloped(invoke(GET)(event), event)

    # Then it is FORBIDDEN
    assert_error(answer, 403, "FORBIDDEN", "missing required scope")
