"""schemathesis against the running stack, from docs/openapi.json: no 5xx, every answer in the
envelope, every answer as the document describes it. Bounded and deterministic.

Three parts: each operation alone with generated input (random ids: their 404s); stateful runs
that follow the document's links from whatever POST accepts; and the links followed from one
accepted message, GET then DELETE on its id, so the success answers of those routes are checked
against the document whatever the generated runs reach. During the
last two the dispatcher is paused (its queue's ReceiveMessage throttled by the AWS
endpoint's fault injection), so a message stays ``queued``: cancelable, and DELETE answers 200.
"""

import os
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, cast

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import OrgKey, create_key, queue_paused
from tests.e2e.local_stack import ROOT, LocalStackProcess
from tests.support.api import ENVELOPE_ERROR_KEYS

DOCUMENT = ROOT / "docs" / "openapi.json"
# Bounded and deterministic for CI; for a longer hunt:
#   SCHEMATHESIS_MAX_EXAMPLES=500 SCHEMATHESIS_SEED=1 make test-e2e
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30"))
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20261122"))
# Stateful: this many scenarios of up to STEPS calls each (a POST, then calls along its links).
SCENARIOS = int(os.environ.get("SCHEMATHESIS_SCENARIOS", "25"))
STEPS = 6


# Loaded at import, as schemathesis' lazy fixture loader does not support pytest 9 yet; the base
# URL and the key come from the session's stack when each case is called.
schema = schemathesis.openapi.from_path(DOCUMENT)
schema.config.generation.update(max_examples=MAX_EXAMPLES)
schema.config.seed = SEED
# Only the document's own links: none inferred by schemathesis, so a wrong link fails here.
schema.config.phases.stateful.inference.algorithms = []


def envelope(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every answer, whatever the input, is the envelope."""
    body = response.json()
    assert isinstance(body, dict), body
    if body.get("success") is True:
        assert set(body) == {"success", "data"}, body
    else:
        assert body.get("success") is False, body
        assert set(body) == {"success", "error"}, body
        assert ENVELOPE_ERROR_KEYS <= set(body["error"]) <= ENVELOPE_ERROR_KEYS | {"details"}, body
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    envelope,
]


@schema.parametrize()
def test_the_api_answers_as_its_document_says(
    case: Any, local_stack: LocalStackProcess, org_a: OrgKey
) -> None:
    response = case.call(base_url=local_stack.gateway_url, headers={"Authorization": f"Bearer {org_a.key}"})
    case.validate_response(response, checks=CHECKS)


@pytest.fixture
def dispatch_paused(local_stack: LocalStackProcess) -> Iterator[None]:
    """No message leaves ``queued`` meanwhile: the dispatch queue's receives are throttled."""
    with queue_paused(local_stack, "DispatchQueue"):
        yield


@pytest.fixture
def own_org(local_stack: LocalStackProcess) -> OrgKey:
    """An org of the links run alone: Idempotency-Keys are per org, so a generated key another
    test's POST stored first (with another body: 422) cannot change which POSTs are accepted."""
    return create_key(local_stack, "org_openapi_links")


def test_the_api_answers_as_its_document_says_along_its_links(
    local_stack: LocalStackProcess, own_org: OrgKey, dispatch_paused: None
) -> None:
    org_a = own_org
    statuses: dict[str, set[int]] = defaultdict(set)

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": local_stack.gateway_url, "headers": {"Authorization": f"Bearer {org_a.key}"}}

        def validate_response(self, response: Any, case: Any, *_: Any, **__: Any) -> None:
            statuses[case.operation.label].add(response.status_code)
            case.validate_response(response, checks=CHECKS)

    Workflow.run(
        settings=hypothesis.settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
    # Every operation was called along the way (which generated POSTs are accepted varies with
    # the run; the links' success answers are checked deterministically below)
    assert set(statuses) >= {"POST /v1/messages"}, dict(statuses)


def operation_by_id(operation_id: str) -> Any:
    for path in schema.raw_schema["paths"]:
        for method, definition in schema.raw_schema["paths"][path].items():
            if isinstance(definition, dict) and definition.get("operationId") == operation_id:
                return schema[path][method.upper()]
    raise AssertionError(f"no operation {operation_id}")


def test_each_link_of_an_accepted_message_leads_to_an_answer_as_documented(
    local_stack: LocalStackProcess, own_org: OrgKey, dispatch_paused: None
) -> None:
    # Given a message accepted by POST, its answer checked against the document
    headers = {"Authorization": f"Bearer {own_org.key}"}
    post = schema["/v1/messages"]["POST"]
    body: dict[str, Any] = {"from": "+15555550100", "to": "+15555550199", "text": "Your code is 123456"}
    case = post.Case(body=cast(Any, body), media_type="application/json")
    response = case.call(base_url=local_stack.gateway_url, headers=headers)
    case.validate_response(response, checks=CHECKS)
    assert response.status_code == 202
    links = post.definition.raw["responses"]["202"]["links"]

    # When each of the 202's links is followed as the document writes it (GET, then DELETE)
    followed = []
    for name in ("GetMessage", "CancelMessage"):
        link = links[name]
        assert link["parameters"] == {"id": "$response.body#/data/id"}
        target = operation_by_id(link["operationId"])
        case = target.Case(path_parameters={"id": response.json()["data"]["id"]})
        answer = case.call(base_url=local_stack.gateway_url, headers=headers)
        # Then each answers 200, as the document describes it
        case.validate_response(answer, checks=CHECKS)
        followed.append((target.label, answer.status_code, answer.json()["data"]["status"]))
    assert followed == [
        ("GET /v1/messages/{id}", 200, "queued"),
        ("DELETE /v1/messages/{id}", 200, "canceled"),
    ]
