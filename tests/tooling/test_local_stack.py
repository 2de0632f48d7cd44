"""The local stack's parts that need no process and no socket: its clock and the clock endpoint,
functions scaling out to more workers, reusing resources that exist, the sample events' key."""

import json
import math
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from agentmessage.domain.message import Mode
from agentmessage.integration.api_keys_table import DynamoKeyStore
from agentmessage.keys.api_keys import hash_key
from agentmessage_local.control_input import MAX_BODY_BYTES
from agentmessage_local.http_messages import HttpRequest, HttpResponse
from agentmessage_local.resources import REGION, create_stack
from agentmessage_local.sample_events import EVENTS_DIR, sample_key, store_sample_key
from agentmessage_local.stack import LocalOptions, LocalStack
from agentmessage_local.stack_clock import MAX_ADVANCE_SECONDS, StackClock
from agentmessage_local.template import FunctionSpec, functions
from agentmessage_local.workers import Invocation, ScalingFunction, concurrency_limit

# -- the clock ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds", [math.nan, math.inf, -math.inf, -1, MAX_ADVANCE_SECONDS + 1, 10**400, True, "60", None]
)
def test_the_clock_refuses_a_step_that_is_not_a_finite_bounded_forward_one(seconds: Any) -> None:
    clock = StackClock()
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        clock.advance(seconds)
    assert clock.offset_seconds == 0.0
    clock.now()  # still readable


def test_the_clock_moves_forward_by_whole_and_fractional_seconds() -> None:
    clock = StackClock()
    clock.advance(61)
    clock.advance(0.5)
    clock.advance(0)
    assert clock.offset_seconds == 61.5


def test_the_clocks_total_offset_is_bounded_too() -> None:
    clock = StackClock()
    for _ in range(10):
        clock.advance(MAX_ADVANCE_SECONDS)
    with pytest.raises(ValueError, match="ahead"):
        clock.advance(1)
    assert clock.offset_seconds <= 10 * MAX_ADVANCE_SECONDS
    clock.now()


def request(method: str, path: str, body: bytes = b"") -> HttpRequest:
    return HttpRequest(
        method=method,
        path=path,
        query="",
        headers=(),
        body=body,
        source_ip="127.0.0.1",
        request_id=str(uuid.uuid4()),
        received_at=StackClock().now(),
    )


def answer(response: HttpResponse) -> tuple[int, Any]:
    assert response.header("Content-Type") == "application/json"
    return response.status, json.loads(response.body)


@pytest.fixture
def control(tmp_path: Path) -> tuple[LocalStack, dict[tuple[str, str], Any]]:
    stack = LocalStack(LocalOptions(state_file=tmp_path / "state.json"))
    return stack, stack._control_endpoints()


@pytest.mark.parametrize(
    "body",
    [
        b'{"advance_seconds": NaN}',
        b'{"advance_seconds": Infinity}',
        b'{"advance_seconds": -5}',
        b'{"advance_seconds": 1e308}',
        b'{"advance_seconds": "60"}',
        b'{"advance_seconds": true}',
        b'{"seconds": 60}',
        b'{"advance_seconds": 1, "and": 2}',  # an unknown field beside a good one
        b'{"advance_seconds": [60]}',
        b'{"advance_seconds": {"seconds": 60}}',
        b'{"advance_seconds": null}',
        b'{"advance_seconds": ' + b"9" * 5000 + b"}",  # past Python's digits for an int
        b"[60]",
        b'"60"',
        b"null",
        b"not json",
        b'{"advance_seconds": 1',  # cut short
        b"\xff\xfe{}",  # not UTF-8
        b"[" * 60_000,  # nested past the parser's depth, under the size limit
    ],
)
def test_the_clock_endpoint_refuses_a_bad_step_in_the_envelope_and_keeps_working(
    control: tuple[LocalStack, dict[tuple[str, str], Any]], body: bytes
) -> None:
    stack, endpoints = control
    sent = request("POST", "/_local/clock", body)
    status, refused = answer(endpoints[("POST", "/_local/clock")](sent))
    assert status == 400
    assert refused["success"] is False
    assert refused["error"]["code"] == "BAD_REQUEST"
    assert refused["error"]["request_id"] == sent.request_id
    assert stack.clock.offset_seconds == 0.0
    status, read = answer(endpoints[("GET", "/_local/clock")](request("GET", "/_local/clock")))
    assert (status, read["data"]["offset_seconds"]) == (200, 0.0)
    status, moved = answer(
        endpoints[("POST", "/_local/clock")](request("POST", "/_local/clock", b'{"advance_seconds": 61}'))
    )
    assert (status, moved["success"], moved["data"]["offset_seconds"]) == (200, True, 61.0)


def test_the_clock_endpoint_refuses_a_body_over_its_limit_with_413_in_the_envelope(
    control: tuple[LocalStack, dict[tuple[str, str], Any]],
) -> None:
    # Given a body over the control endpoints' limit (a JSON object, padded)
    stack, endpoints = control
    body = b'{"advance_seconds": 1' + b" " * MAX_BODY_BYTES + b"}"
    # When it is posted to the clock
    status, refused = answer(endpoints[("POST", "/_local/clock")](request("POST", "/_local/clock", body)))
    # Then it is 413 in the envelope, and the clock did not move
    assert (status, refused["success"], refused["error"]["code"]) == (413, False, "BAD_REQUEST")
    assert stack.clock.offset_seconds == 0.0


def test_an_empty_body_advances_the_clock_by_nothing(
    control: tuple[LocalStack, dict[tuple[str, str], Any]],
) -> None:
    stack, endpoints = control
    status, moved = answer(endpoints[("POST", "/_local/clock")](request("POST", "/_local/clock", b" \n")))
    assert (status, moved["data"]["offset_seconds"]) == (200, 0.0)
    assert stack.clock.offset_seconds == 0.0


# -- scaling out --------------------------------------------------------------------------------


class HeldWorker:
    """A fake execution environment: each invocation waits until released."""

    def __init__(self, spec: FunctionSpec, release: threading.Event, log: list["HeldWorker"]) -> None:
        self.spec = spec
        self.release = release
        self.log = log
        self.running = threading.Event()
        self.stopped = False

    def invoke(self, event: Any, *, request_id: str | None = None) -> Invocation:
        self.log.append(self)
        self.running.set()
        self.release.wait(10)
        self.running.clear()
        return Invocation(result={"worker": id(self), "event": event})

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def spec() -> FunctionSpec:
    return functions()["SendMessageFunction"]


def test_a_function_scales_out_while_its_workers_are_busy_and_reuses_them_after(spec: FunctionSpec) -> None:
    release = threading.Event()
    log: list[HeldWorker] = []
    function = ScalingFunction(spec, lambda: HeldWorker(spec, release, log), max_concurrency=3)
    results: list[Invocation] = []
    threads = [threading.Thread(target=lambda n=n: results.append(function.invoke(n))) for n in range(2)]
    for thread in threads:
        thread.start()
    while len(log) < 2:  # both invocations running at once
        threads[0].join(0.01)
    assert function.size == 2
    assert len({id(worker) for worker in log}) == 2  # in two workers
    release.set()
    for thread in threads:
        thread.join(10)
    assert sorted(result.result["event"] for result in results) == [0, 1]
    function.invoke("again")
    assert function.size == 2  # a warm worker served it: no third
    assert log[-1] in log[:2]
    function.stop()
    assert all(worker.stopped for worker in log)


def test_beyond_its_concurrency_an_invocation_waits_for_a_free_worker(spec: FunctionSpec) -> None:
    release = threading.Event()
    log: list[HeldWorker] = []
    function = ScalingFunction(spec, lambda: HeldWorker(spec, release, log), max_concurrency=1)
    first = threading.Thread(target=function.invoke, args=("first",))
    first.start()
    while not log:
        first.join(0.01)
    second_done = threading.Event()

    def invoke_second() -> None:
        function.invoke("second")
        second_done.set()

    second = threading.Thread(target=invoke_second)
    second.start()
    assert not second_done.wait(0.2)  # waiting: the only worker is busy
    assert function.size == 1
    release.set()
    first.join(10)
    second.join(10)
    assert second_done.is_set()
    assert function.size == 1
    assert log[0] is log[1]


def test_a_stopped_function_answers_lambdas_error_and_starts_nothing(spec: FunctionSpec) -> None:
    function = ScalingFunction(spec, lambda: pytest.fail("no worker may start"), max_concurrency=2)
    function.stop()
    invocation = function.invoke({})
    assert invocation.error is not None
    assert invocation.error["errorType"] == "Runtime.Stopped"


def test_the_concurrency_limit_is_the_templates_reserved_concurrency_when_lower(spec: FunctionSpec) -> None:
    assert concurrency_limit(spec, default=4) == 4  # the template reserves none
    reserved = FunctionSpec(**{**spec.__dict__, "reserved_concurrency": 2})
    assert concurrency_limit(reserved, default=4) == 2
    assert concurrency_limit(FunctionSpec(**{**spec.__dict__, "reserved_concurrency": 0}), default=4) == 1


# -- resources that already exist ----------------------------------------------------------------------------


@pytest.fixture
def aws() -> Iterator[boto3.session.Session]:
    with mock_aws():
        yield boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION
        )


def test_creating_the_stack_again_on_the_same_endpoint_reuses_what_is_there(
    aws: boto3.session.Session,
) -> None:
    first = create_stack(aws, prefix="agentmessage-dev")
    dynamodb = aws.client("dynamodb")
    sqs = aws.client("sqs")
    dynamodb.put_item(TableName=first.refs["MessagesTable"], Item={"org_id": {"S": "o"}, "id": {"S": "kept"}})
    sqs.send_message(QueueUrl=first.refs["DispatchQueue"], MessageBody="kept")

    second = create_stack(aws, prefix="agentmessage-dev")

    assert second.to_json() == first.to_json()
    item = dynamodb.get_item(
        TableName=first.refs["MessagesTable"], Key={"org_id": {"S": "o"}, "id": {"S": "kept"}}
    )
    assert "Item" in item
    attributes = sqs.get_queue_attributes(QueueUrl=first.refs["DispatchQueue"], AttributeNames=["All"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "1"
    ttl = dynamodb.describe_time_to_live(TableName=first.refs["IdempotencyTable"])["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"
    groups = aws.client("scheduler").list_schedule_groups()["ScheduleGroups"]
    assert [g["Name"] for g in groups].count(first.refs["MessageScheduleGroup"]) == 1


def test_another_error_while_creating_is_not_taken_for_an_existing_resource(
    aws: boto3.session.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from agentmessage_local import resources

    def refuse(*_: Any, **__: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "CreateScheduleGroup"
        )

    client = aws.client("scheduler")
    monkeypatch.setattr(client, "create_schedule_group", refuse)
    with pytest.raises(ClientError, match="AccessDenied"):
        resources._ensure_schedule_group(client, "g")


# -- the sample events' key ----------------------------------------------------------------------


def test_the_sample_key_is_read_from_the_sample_events() -> None:
    sample = sample_key()
    assert sample is not None
    authorizer = json.loads((EVENTS_DIR / "authorizer.json").read_text())
    assert authorizer["headers"]["Authorization"] == f"Bearer {sample.key}"
    assert (sample.org_id, sample.key_id, sample.mode) == ("org_sample", "key_sample", Mode.TEST)
    assert set(sample.scopes) == {"messages:send", "messages:read"}


def test_without_the_sample_events_there_is_no_sample_key(tmp_path: Path) -> None:
    assert sample_key(tmp_path) is None


def test_the_stored_sample_key_resolves_to_the_sample_org(aws: boto3.session.Session) -> None:
    stack = create_stack(aws, prefix="agentmessage-dev")
    store = DynamoKeyStore(aws.client("dynamodb"), stack.refs["ApiKeysTable"])
    sample = sample_key()
    assert sample is not None
    assert store_sample_key(store, sample, StackClock().now())
    assert not store_sample_key(store, sample, StackClock().now())  # there already (a second start): kept
    record = store.find(hash_key(sample.key))
    assert record is not None
    assert (record.org_id, record.key_id, record.active) == ("org_sample", "key_sample", True)
