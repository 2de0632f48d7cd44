"""E2E tier: real HTTP against a local stack that the test session starts and stops.

One stack for the whole session (``agentmessage local`` on free ports); keys are made with the
CLI, as a user makes them. Every test here is marked ``e2e``.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.api_client import ApiClient, Faults
from tests.e2e.local_stack import LocalStackProcess

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    stack = LocalStackProcess.start(tmp_path_factory.mktemp("local-stack"))
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def api(local_stack: LocalStackProcess) -> ApiClient:
    return ApiClient(local_stack.gateway_url)


@dataclass(frozen=True)
class OrgKey:
    org_id: str
    key: str
    key_id: str
    scopes: tuple[str, ...]


def create_key(stack: LocalStackProcess, org_id: str, scopes: str = "messages:send,messages:read") -> OrgKey:
    """``agentmessage keys create`` against the running stack, as a user runs it."""
    done = stack.cli("keys", "create", "--org", org_id, "--scopes", scopes, "--json")
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    return OrgKey(
        org_id=org_id, key=created["key"], key_id=created["key_id"], scopes=tuple(created["scopes"])
    )


@pytest.fixture(scope="session")
def org_a(local_stack: LocalStackProcess) -> OrgKey:
    return create_key(local_stack, "org_a")


@pytest.fixture(scope="session")
def org_b(local_stack: LocalStackProcess) -> OrgKey:
    return create_key(local_stack, "org_b")


@pytest.fixture
def faults(local_stack: LocalStackProcess) -> Iterator[Faults]:
    """The session stack's fault injection, cleared after each test whatever happens."""
    injection = Faults(local_stack.endpoint_url)
    injection.clear()
    try:
        yield injection
    finally:
        injection.clear()


@contextmanager
def queue_paused(stack: LocalStackProcess, queue: str) -> Iterator[Faults]:
    """Records wait on the template's ``queue`` (its ReceiveMessage throttled by the AWS endpoint's
    fault injection) until the faults are cleared: by the caller, or on leaving."""
    assert stack.state is not None
    name = stack.state["stack"]["attributes"][f"{queue}.QueueName"]
    injection = Faults(stack.endpoint_url)
    injection.add(service="sqs", operation="ReceiveMessage", match=name, fault="throttle", count=None)
    try:
        yield injection
    finally:
        injection.clear()
