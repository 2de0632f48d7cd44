"""The v1 representation of a message: what every v1 route shows, and nothing else."""

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, get_type_hints

import pytest

from agentmessage.api.v1.representation import V1Message, to_v1
from agentmessage.domain.message import Cost, Message, MessageError, Mode
from agentmessage.domain.status import Status
from tests.support.messages import API_FIELDS
from tests.support.messages import a_message as stored_message

CREATED = datetime(2026, 5, 2, 15, 0, 0, tzinfo=UTC)


def a_message(**fields: Any) -> Message:
    """A stored message with the pipeline's own fields set."""
    values: dict[str, Any] = {
        "mode": Mode.LIVE,
        "created_at": CREATED,
        "attempts": 2,
        "provider_message_id": "prov-1",
        "carrier": "sandbox",
    }
    return stored_message(**(values | fields))


def shown(message: Message) -> dict[str, Any]:
    """The representation as a client reads it: through JSON."""
    parsed: dict[str, Any] = json.loads(json.dumps(to_v1(message)))
    return parsed


def test_the_representation_has_every_api_field_and_only_those() -> None:
    assert set(to_v1(a_message())) == API_FIELDS == set(get_type_hints(V1Message))


def test_to_api_hides_the_pipelines_fields_and_uses_api_names() -> None:
    # Given a message with internal fields set
    answer = shown(a_message())

    # Then none of them is shown, and "from" is spelled as in the API
    assert not {"org_id", "mode", "attempts", "provider_message_id", "carrier", "api_version"} & set(answer)
    assert answer["from"] == "+15555550100"
    assert "from_" not in answer


def test_a_new_message_costs_zero_in_four_decimals() -> None:
    assert shown(a_message())["cost"] == {"amount": "0.0000", "currency": "USD"}


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(Decimal("0.0079") * 3, "0.0237"), (Decimal("0.02"), "0.0200"), (Decimal("12"), "12.0000")],
)
def test_cost_is_a_decimal_string_with_four_places(amount: Decimal, expected: str) -> None:
    assert shown(a_message(cost=Cost(amount=amount)))["cost"] == {"amount": expected, "currency": "USD"}


def test_timestamps_are_utc_with_z_and_milliseconds() -> None:
    # Given timestamps, one in another timezone
    plus_two = timezone(timedelta(hours=2))
    message = a_message(
        scheduled_at=datetime(2026, 5, 2, 19, 30, 0, 123_456, tzinfo=plus_two),
        canceled_at=CREATED + timedelta(minutes=1),
    )

    # When shown
    answer = shown(message)

    # Then each is ISO 8601 in UTC with Z
    assert answer["created_at"] == "2026-05-02T15:00:00.000Z"
    assert answer["scheduled_at"] == "2026-05-02T17:30:00.123Z"
    assert answer["canceled_at"] == "2026-05-02T15:01:00.000Z"
    assert answer["sent_at"] is None
    assert answer["completed_at"] is None
    assert answer["valid_until"] is None


def test_errors_are_listed_as_code_and_detail() -> None:
    answer = shown(
        a_message(status=Status.FAILED, errors=(MessageError(code="UNREACHABLE", detail="no route"),))
    )
    assert answer["errors"] == [{"code": "UNREACHABLE", "detail": "no route"}]
    assert answer["status"] == "failed"


def test_due_at_is_the_schedule_or_the_creation() -> None:
    later = CREATED + timedelta(hours=1)
    assert a_message().due_at == CREATED
    assert a_message(scheduled_at=later).due_at == later
