"""What the gateway emulates of API Gateway, seen from a client."""

import re

from tests.e2e.api_client import ApiClient, assert_enveloped
from tests.e2e.conftest import OrgKey
from tests.e2e.local_stack import LocalStackProcess
from tests.e2e.test_sending import message


def test_the_api_answers_with_and_without_the_stage_prefix(api: ApiClient, org_a: OrgKey) -> None:
    sent = api.send(org_a.key, message()).data
    for path in (f"/v1/messages/{sent['id']}", f"/dev/v1/messages/{sent['id']}"):
        answer = api.request("GET", path, key=org_a.key)
        assert_enveloped(answer)
        assert answer.data["id"] == sent["id"]


def test_every_request_gets_its_own_request_id(api: ApiClient, org_a: OrgKey) -> None:
    ids = {api.get(org_a.key, "unknown").headers["x-amzn-requestid"] for _ in range(3)}
    assert len(ids) == 3
    assert all(re.fullmatch(r"[0-9a-f-]{36}", request_id) for request_id in ids)


def test_the_development_key_printed_at_start_works(api: ApiClient, local_stack: LocalStackProcess) -> None:
    banner = local_stack.banner()
    found = re.search(r"Test key\s+(am_test_\w+)", banner)
    assert found is not None, banner
    assert (
        f"curl -s -X POST {local_stack.gateway_url}/v1/messages -H 'Authorization: Bearer {found.group(1)}'"
        in banner
    )
    assert api.send(found.group(1), message()).status == 202


def test_the_clock_endpoint_only_moves_forward(api: ApiClient) -> None:
    answer = api.request("POST", "/_local/clock", body={"advance_seconds": -5})
    assert answer.status == 400
    assert api.request("GET", "/_local/nothing").status == 404
