"""Integration tier: each handler called with the events AWS really sends, against moto, with
tables, queues and the schedule group created from ``infra/template.yaml``."""

import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from agentmessage.domain import clock
from agentmessage_local.resources import Stack, create_stack
from agentmessage_local.template import functions
from tests.support.containers import new_container
from tests.support.events import FakeLambdaContext
from tests.support.fakes import START, FakeClock

_MODULES = {
    "AuthorizerFunction": "functions.authorizer.app",
    "SendMessageFunction": "functions.send.app",
    "GetMessageFunction": "functions.get.app",
    "CancelMessageFunction": "functions.cancel.app",
    "DispatchFunction": "functions.dispatch.app",
    "SweepFunction": "functions.sweep.app",
    "ReceiptFunction": "functions.receipts.app",
}


@dataclass
class Aws:
    stack: Stack
    session: boto3.session.Session

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name="us-east-1")  # type: ignore[call-overload]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        stack = create_stack(session, prefix="test")
        # Every function's environment, as the template resolves it, in one process.
        for spec in functions().values():
            for name, value in stack.environment(spec).items():
                monkeypatch.setenv(name, value)
        yield Aws(stack=stack, session=session)


Invoke = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture(autouse=True)
def _fresh_container(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test is a fresh container: what the composition root caches is forgotten, and the
    shared Metrics object read its namespace when first imported, possibly at collection, before
    the environment fixture ran (Lambda sets the environment before any import)."""
    from agentmessage.observability import metrics

    new_container()
    monkeypatch.setattr(metrics, "namespace", "AgentMessage")
    yield
    new_container()


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The functions' clock, stopped at ``START``; tests move it."""
    fake = FakeClock(START)
    monkeypatch.setattr(clock, "utc_now", fake)
    return fake


def _module(logical_id: str) -> ModuleType:
    return importlib.import_module(_MODULES[logical_id])


@pytest.fixture
def invoke(aws: Aws) -> Callable[[str], Invoke]:
    """``invoke("SendMessageFunction")(event)``: the function's handler, as Lambda calls it."""

    def for_function(logical_id: str) -> Invoke:
        handler = _module(logical_id).lambda_handler

        def call(event: dict[str, Any]) -> dict[str, Any]:
            result: dict[str, Any] = handler(event, FakeLambdaContext())
            return result

        return call

    return for_function


@pytest.fixture
def receipts(aws: Aws, invoke: Callable[[str], Invoke]) -> Callable[[], list[dict[str, Any]]]:
    """Run the receipt function on what the receipts queue holds, as its event source would; the
    event records it was given. Records it reports as failed stay on the queue."""
    from tests.support.events import sqs_event
    from tests.support.queues import drain

    def run() -> list[dict[str, Any]]:
        bodies = drain(aws.client("sqs"), aws.stack.refs["ReceiptsQueue"])
        if bodies:
            event = sqs_event(bodies, queue_arn=aws.stack.attributes[("ReceiptsQueue", "Arn")])
            response = invoke("ReceiptFunction")(event)
            failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
            for record in event["Records"]:
                if record["messageId"] in failed:
                    aws.client("sqs").send_message(
                        QueueUrl=aws.stack.refs["ReceiptsQueue"], MessageBody=record["body"]
                    )
        return [json.loads(body) for body in bodies]

    return run
