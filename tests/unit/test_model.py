"""The message: its status machine, and what the API shows of it."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from agentmessage.model import (
    TERMINAL,
    TRANSITIONS,
    Cost,
    Message,
    MessageError,
    Mode,
    Status,
    can_transition,
)

CREATED = datetime(2026, 5, 2, 15, 0, 0, tzinfo=UTC)


def a_message(**fields: object) -> Message:
    values: dict[str, object] = {
        "id": "0196a0b2-3c4d-7e5f-8a6b-7c8d9e0f1a2b",
        "org_id": "org_a",
        "mode": Mode.LIVE,
        "from_": "+15555550100",
        "to": "+15555550123",
        "text": "Hello",
        "encoding": "GSM-7",
        "parts": 1,
        "created_at": CREATED,
        "attempts": 2,
        "provider_message_id": "prov-1",
        "carrier": "sandbox",
    }
    values.update(fields)
    return Message.model_validate(values)


# --- the status machine ---------------------------------------------------------------------------


def test_every_status_has_its_exits_listed() -> None:
    assert set(TRANSITIONS) == set(Status)
    assert all(set(nexts) <= set(Status) for nexts in TRANSITIONS.values())


def test_only_queued_is_cancelable() -> None:
    cancelable = {status for status in Status if can_transition(status, Status.CANCELED)}
    assert cancelable == {Status.QUEUED}


def test_the_terminal_states_have_no_exits() -> None:
    assert {Status.DELIVERED, Status.FAILED, Status.CANCELED, Status.EXPIRED} == TERMINAL
    for status in TERMINAL:
        assert not any(can_transition(status, target) for target in Status)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.QUEUED, Status.SENDING),
        (Status.QUEUED, Status.CANCELED),
        (Status.QUEUED, Status.EXPIRED),
        (Status.SENDING, Status.SENT),
        (Status.SENDING, Status.FAILED),
        (Status.SENT, Status.DELIVERED),
        (Status.SENT, Status.FAILED),
    ],
)
def test_the_designs_edges_are_allowed(current: Status, target: Status) -> None:
    assert can_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.QUEUED, Status.SENT),
        (Status.QUEUED, Status.DELIVERED),
        (Status.QUEUED, Status.QUEUED),
        (Status.SENDING, Status.CANCELED),
        (Status.SENDING, Status.EXPIRED),
        (Status.SENT, Status.CANCELED),
        (Status.SENT, Status.QUEUED),
        (Status.CANCELED, Status.QUEUED),
        (Status.EXPIRED, Status.SENDING),
    ],
)
def test_other_moves_are_refused(current: Status, target: Status) -> None:
    assert not can_transition(current, target)


def test_only_queued_can_expire() -> None:
    assert {status for status in Status if can_transition(status, Status.EXPIRED)} == {Status.QUEUED}


# --- what the API shows -----------------------------------------------------------------------------


def test_to_api_hides_the_pipelines_fields_and_uses_api_names() -> None:
    # Given a message with internal fields set
    shown = a_message().to_api()

    # Then none of them is shown, and "from" is spelled as in the API
    assert not {"org_id", "mode", "attempts", "provider_message_id", "carrier"} & set(shown)
    assert shown["from"] == "+15555550100"
    assert "from_" not in shown


def test_a_new_message_costs_zero_in_four_decimals() -> None:
    assert a_message().to_api()["cost"] == {"amount": "0.0000", "currency": "USD"}


@pytest.mark.parametrize(
    ("amount", "shown"),
    [(Decimal("0.0079") * 3, "0.0237"), (Decimal("0.02"), "0.0200"), (Decimal("12"), "12.0000")],
)
def test_cost_is_a_decimal_string_with_four_places(amount: Decimal, shown: str) -> None:
    assert a_message(cost=Cost(amount=amount)).to_api()["cost"] == {"amount": shown, "currency": "USD"}


def test_timestamps_are_utc_with_z_and_milliseconds() -> None:
    # Given timestamps, one in another timezone
    plus_two = timezone(timedelta(hours=2))
    message = a_message(
        created_at=CREATED,
        scheduled_at=datetime(2026, 5, 2, 19, 30, 0, 123_456, tzinfo=plus_two),
        canceled_at=CREATED + timedelta(minutes=1),
    )

    # When shown
    shown = message.to_api()

    # Then each is ISO 8601 in UTC with Z
    assert shown["created_at"] == "2026-05-02T15:00:00.000Z"
    assert shown["scheduled_at"] == "2026-05-02T17:30:00.123Z"
    assert shown["canceled_at"] == "2026-05-02T15:01:00.000Z"
    assert shown["sent_at"] is None
    assert shown["completed_at"] is None
    assert shown["valid_until"] is None


def test_errors_are_listed_as_code_and_detail() -> None:
    shown = a_message(
        status=Status.FAILED, errors=[MessageError(code="UNREACHABLE", detail="no route")]
    ).to_api()
    assert shown["errors"] == [{"code": "UNREACHABLE", "detail": "no route"}]
    assert shown["status"] == "failed"


def test_due_at_is_the_schedule_or_the_creation() -> None:
    later = CREATED + timedelta(hours=1)
    assert a_message().due_at == CREATED
    assert a_message(scheduled_at=later).due_at == later
