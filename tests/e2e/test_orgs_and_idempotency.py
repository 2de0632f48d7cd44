"""One org cannot see or cancel another's messages; an idempotent retry answers the first send."""

import uuid

from tests.e2e.api_client import ApiClient, assert_enveloped, assert_error
from tests.e2e.conftest import OrgKey
from tests.e2e.test_sending import message, scheduled_at


def test_another_orgs_message_is_not_found_and_cannot_be_canceled(
    api: ApiClient, org_a: OrgKey, org_b: OrgKey
) -> None:
    # Given org A's scheduled message
    mine = api.send(org_a.key, message(scheduled_at=scheduled_at(api))).data
    # When org B reads it or cancels it, Then it does not exist for org B (404, never 403)
    assert_error(api.get(org_b.key, mine["id"]), 404, "NOT_FOUND")
    assert_error(api.cancel(org_b.key, mine["id"]), 404, "NOT_FOUND")
    # And org A's message is untouched
    assert api.get(org_a.key, mine["id"]).data["status"] == "queued"


def test_an_idempotent_retry_returns_the_same_message(api: ApiClient, org_a: OrgKey) -> None:
    key = f"e2e-{uuid.uuid4()}"
    first = api.send(org_a.key, message(), idempotency_key=key)
    retry = api.send(org_a.key, message(), idempotency_key=key)
    assert_enveloped(first)
    assert_enveloped(retry)
    assert (first.status, retry.status) == (202, 202)
    assert retry.data["id"] == first.data["id"]
    assert retry.data["created_at"] == first.data["created_at"]


def test_an_idempotency_key_is_scoped_to_its_org(api: ApiClient, org_a: OrgKey, org_b: OrgKey) -> None:
    key = f"e2e-{uuid.uuid4()}"
    theirs = api.send(org_a.key, message(), idempotency_key=key).data
    ours = api.send(org_b.key, message(), idempotency_key=key).data
    assert ours["id"] != theirs["id"]
