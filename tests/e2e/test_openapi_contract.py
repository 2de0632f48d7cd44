"""schemathesis against the running stack, from docs/openapi.json: no 5xx, every answer in the
envelope, every answer as the document describes it. Bounded and deterministic.

Two phases: each operation alone with generated input (random ids: their 404s), then stateful
runs that follow the document's links, from a message accepted by POST to GET and DELETE on its
id, so the success answers of those routes are checked against the document too. During the
stateful runs the dispatcher is paused (its queue's ReceiveMessage throttled by the AWS
endpoint's fault injection), so a message stays ``queued``: cancelable, and DELETE answers 200.
"""

import os
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

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

from tests.e2e.api_client import Faults
from tests.e2e.conftest import OrgKey
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
    assert local_stack.state is not None
    queue = local_stack.state["stack"]["attributes"]["DispatchQueue.QueueName"]
    faults = Faults(local_stack.endpoint_url)
    faults.add(service="sqs", operation="ReceiveMessage", match=queue, fault="throttle", count=None)
    try:
        yield
    finally:
        faults.clear()


def test_the_api_answers_as_its_document_says_along_its_links(
    local_stack: LocalStackProcess, org_a: OrgKey, dispatch_paused: None
) -> None:
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
    # The links were followed: the success answers of GET and DELETE were checked too.
    assert 202 in statuses["POST /v1/messages"], dict(statuses)
    assert 200 in statuses["GET /v1/messages/{id}"], dict(statuses)
    assert 200 in statuses["DELETE /v1/messages/{id}"], dict(statuses)
