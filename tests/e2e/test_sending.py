"""The pipeline end to end: send now, schedule, cancel, through the sandbox carrier."""

from datetime import datetime, timedelta

from tests.e2e.api_client import ApiClient, assert_enveloped
from tests.e2e.conftest import OrgKey

SANDBOX_DELIVERED = "+15555550199"  # not in the sandbox table: delivered
SANDBOX_UNREACHABLE = "+15555550101"  # the sandbox fails it, permanently
SCHEDULE_AHEAD = timedelta(seconds=61)
PAST_ITS_TIME = 63  # seconds: the schedule's time, rounded up to the second, and a margin


def message(to: str = SANDBOX_DELIVERED, **fields: object) -> dict[str, object]:
    return {"from": "+15555550100", "to": to, "text": "Hello from the e2e tests", **fields}


def scheduled_at(api: ApiClient) -> str:
    """A minute and a second from now, on the stack's clock (which earlier tests may have moved)."""
    now = datetime.fromisoformat(api.stack_now())
    return (now + SCHEDULE_AHEAD).isoformat().replace("+00:00", "Z")


def test_a_message_sent_now_is_delivered_through_the_sandbox(api: ApiClient, org_a: OrgKey) -> None:
    # Given a test key, When a message is sent with no schedule
    accepted = api.send(org_a.key, message())
    # Then it is accepted as queued, and the dispatcher delivers it through the sandbox
    assert_enveloped(accepted)
    assert accepted.status == 202
    assert accepted.data["status"] == "queued"
    delivered = api.wait_for(org_a.key, accepted.data["id"], lambda m: m["status"] == "delivered")
    assert delivered["sent_at"] is not None
    assert delivered["completed_at"] is not None
    assert delivered["cost"] == {"amount": "0.0079", "currency": "USD"}


def test_a_failing_destination_ends_failed_with_its_error(api: ApiClient, org_a: OrgKey) -> None:
    accepted = api.send(org_a.key, message(to=SANDBOX_UNREACHABLE))
    failed = api.wait_for(org_a.key, accepted.data["id"], lambda m: m["status"] == "failed")
    assert [error["code"] for error in failed["errors"]] == ["DESTINATION_UNREACHABLE"]


def test_a_scheduled_message_fires_at_its_time(api: ApiClient, org_a: OrgKey) -> None:
    # Given a message scheduled a minute ahead
    accepted = api.send(org_a.key, message(scheduled_at=scheduled_at(api)))
    assert accepted.status == 202
    assert accepted.data["status"] == "queued"
    assert accepted.data["scheduled_at"] is not None
    # When the clock passes its time
    moved = api.advance_clock(PAST_ITS_TIME)
    # Then its schedule fires, and it is sent
    assert accepted.data["id"] in moved["fired_schedules"]
    delivered = api.wait_for(org_a.key, accepted.data["id"], lambda m: m["status"] == "delivered")
    assert delivered["sent_at"] >= delivered["scheduled_at"]


def test_a_canceled_scheduled_message_is_never_sent(api: ApiClient, org_a: OrgKey) -> None:
    # Given two messages scheduled for the same time, one of them canceled
    at = scheduled_at(api)
    canceled = api.send(org_a.key, message(scheduled_at=at)).data
    sibling = api.send(org_a.key, message(scheduled_at=at)).data
    answer = api.cancel(org_a.key, canceled["id"])
    assert_enveloped(answer)
    assert answer.status == 200
    assert answer.data["status"] == "canceled"
    assert answer.data["canceled_at"] is not None
    again = api.cancel(org_a.key, canceled["id"])  # canceling a canceled message answers it again
    assert (again.status, again.data["status"]) == (200, "canceled")
    # When the clock passes their time, and the sibling has been sent
    api.advance_clock(PAST_ITS_TIME)
    api.wait_for(org_a.key, sibling["id"], lambda m: m["status"] == "delivered")
    # Then the canceled one never was, and costs nothing
    after = api.get(org_a.key, canceled["id"]).data
    assert after["status"] == "canceled"
    assert after["sent_at"] is None
    assert after["cost"]["amount"] == "0.0000"
