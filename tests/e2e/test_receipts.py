"""Delivery receipts end to end: the sandbox publishes End User Messaging's event records to the
receipts topic, SNS delivers them raw to the receipts queue, and ReceiptFunction applies them, so
a message is seen over HTTP going ``queued -> sent`` and then to its outcome."""

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.api_client import ApiClient, Faults
from tests.e2e.conftest import OrgKey, queue_paused
from tests.e2e.local_stack import LocalStackProcess
from tests.e2e.test_sending import message

MEDIA: dict[str, Any] = {"channel": "mms", "media_urls": ["https://media.example.com/cat.jpg"]}
CHANNELS = pytest.mark.parametrize("channel", [{}, MEDIA], ids=["sms", "mms"])


@pytest.fixture
def receipts_paused(local_stack: LocalStackProcess) -> Iterator[Faults]:
    """Receipts wait on their queue until the fault is cleared."""
    with queue_paused(local_stack, "ReceiptsQueue") as faults:
        yield faults


@CHANNELS
def test_a_message_is_sent_and_then_its_receipt_delivers_it(
    api: ApiClient, org_a: OrgKey, receipts_paused: Faults, channel: dict[str, Any]
) -> None:
    # Given a message to an ordinary number, accepted as queued
    accepted = api.send(org_a.key, message(**channel))
    assert (accepted.status, accepted.data["status"]) == (202, "queued")

    # When the dispatcher has sent it, while its receipts wait on their queue
    sent = api.wait_for(org_a.key, accepted.data["id"], lambda m: m["status"] not in {"queued", "sending"})
    # Then it is sent, not yet completed
    assert (sent["status"], sent["completed_at"]) == ("sent", None)
    assert sent["sent_at"] is not None

    # And once the receipts flow, the final one delivers it
    receipts_paused.clear()
    delivered = api.wait_for(org_a.key, accepted.data["id"], lambda m: m["status"] != "sent")
    assert delivered["status"] == "delivered"
    assert delivered["completed_at"] >= delivered["sent_at"]
    assert delivered["errors"] == []
    assert delivered["channel"] == ("mms" if channel else "sms")


@CHANNELS
@pytest.mark.parametrize(
    ("to", "code"),
    [("+15555550105", "DESTINATION_UNREACHABLE"), ("+15555550106", "BLOCKED")],
    ids=["unreachable", "blocked"],
)
def test_a_receipt_that_says_undelivered_ends_the_message_undelivered_with_its_reason(
    api: ApiClient, org_a: OrgKey, channel: dict[str, Any], to: str, code: str
) -> None:
    accepted = api.send(org_a.key, message(to=to, **channel))
    done = api.wait_for(
        org_a.key, accepted.data["id"], lambda m: m["status"] not in {"queued", "sending", "sent"}
    )
    assert done["status"] == "undelivered"
    assert [error["code"] for error in done["errors"]] == [code]
    assert done["sent_at"] is not None
    assert done["completed_at"] >= done["sent_at"]
    assert done["cost"]["amount"] != "0.0000"  # it was handed over: the send is charged


def test_a_final_receipt_with_no_outcome_leaves_the_message_sent_and_unconfirmed(
    api: ApiClient, org_a: OrgKey
) -> None:
    accepted = api.send(org_a.key, message(to="+15555550107"))
    done = api.wait_for(org_a.key, accepted.data["id"], lambda m: m["completed_at"] is not None)
    assert done["status"] == "sent"
    assert [error["code"] for error in done["errors"]] == ["DELIVERY_UNCONFIRMED"]


def test_a_message_whose_receipt_never_comes_stays_sent(api: ApiClient, org_a: OrgKey) -> None:
    # Given a message to the number that never gets a receipt, sent at the same time as one that does
    silent = api.send(org_a.key, message(to="+15555550103")).data["id"]
    heard = api.send(org_a.key, message()).data["id"]

    # When the other one's receipt has been applied
    api.wait_for(org_a.key, heard, lambda m: m["status"] == "delivered")
    api.wait_for(org_a.key, silent, lambda m: m["status"] == "sent")

    # Then it is still sent, with no outcome and no error
    after = api.get(org_a.key, silent).data
    assert (after["status"], after["completed_at"], after["errors"]) == ("sent", None, [])
