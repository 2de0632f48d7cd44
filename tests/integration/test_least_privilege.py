"""Least privilege, observed: each function runs through its real paths against moto (AWS End User
Messaging, which moto lacks, answered by a botocore Stubber), every AWS call it makes is recorded
with botocore's event hooks on the shared clients of ``agentmessage.aws_clients``, and the calls
are held against that function's own policy statements in ``infra/template.yaml``, both ways:

- every call is allowed: its IAM action on the resource it names, and the permissions AWS checks
  on the caller's behalf (``iam:PassRole`` for a schedule's role, ``s3:GetObject`` for the media
  SendMediaMessage reads);
- every grant is used: each action and resource the template grants a function was needed by at
  least one of the paths exercised here, so a grant nobody uses fails.

The static half (exactly these grants, on the function's own resources) is in
``tests/tooling/test_template.py``.
"""

import json
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.stub import Stubber

from agentmessage.carriers import media
from agentmessage.domain import clock
from agentmessage.domain.message import Mode
from agentmessage.domain.status import Status
from agentmessage.integration import aws_clients
from agentmessage.integration.dispatch_triggers import AwsDispatchTriggers
from agentmessage.integration.messages_table import DynamoMessageRepository
from agentmessage.integration.time_budget import SEQUENCES
from agentmessage.keys.api_keys import generate_key
from agentmessage.observability import metrics
from agentmessage_local.resources import Stack
from agentmessage_local.template import functions, load_template
from functions.authorizer.app import Unauthorized
from tests.integration.conftest import Aws, Invoke
from tests.support.api import Answer, answer_of, assert_error, enveloped
from tests.support.containers import fresh_container, new_container
from tests.support.dynamo_calls import every_call_limits
from tests.support.events import (
    ACCOUNT,
    REGION,
    FakeLambdaContext,
    authorizer_context,
    authorizer_event,
    dispatch_body,
    message_event,
    scheduled_event,
    send_event,
    sqs_event,
)
from tests.support.fakes import START, FakeClock
from tests.support.keys import store_key
from tests.support.messages import (
    ORG,
    OTHER_ORG,
    RECIPIENT,
    SENDER,
    TEXT,
    send_body,
    set_status,
    stored_status,
)
from tests.support.queues import drain

AUTHORIZER = "AuthorizerFunction"
SEND = "SendMessageFunction"
GET = "GetMessageFunction"
CANCEL = "CancelMessageFunction"
DISPATCH = "DispatchFunction"
SWEEP = "SweepFunction"
RECEIPT = "ReceiptFunction"

MEDIA_SOURCE = "https://cdn.example.com/cat.png"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


# -- from an API call to what IAM authorizes -------------------------------------------------------

# The IAM service prefix of each client the functions use (botocore's service name as the key).
IAM_PREFIX = {
    "sns": "sns",
    "dynamodb": "dynamodb",
    "sqs": "sqs",
    "scheduler": "scheduler",
    "pinpoint-sms-voice-v2": "sms-voice",
    "s3": "s3",
}
# An IAM action is the operation's name, except where AWS authorizes a batch call by the action of
# its single form (SQS: "SendMessageBatch ... the permission is sqs:SendMessage").
BATCH_ACTIONS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "sns:PublishBatch": "sns:Publish",
}
# The SQS event source's managed policy (AWSLambdaSQSQueueExecutionRole), on the dispatcher's
# role for Lambda's poller: the dispatcher never calls these itself.
EVENT_SOURCE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


@dataclass(frozen=True)
class Request:
    """One authorization AWS makes for a call: an action on a resource, with its condition keys."""

    action: str
    resource: str
    call: str  # the API call it was made for, e.g. "sqs.SendMessageBatch"
    conditions: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return f"{self.action} on {self.resource} (by {self.call})"


def resource_of(service: str, operation: str, params: Mapping[str, Any]) -> str:
    """The ARN a call acts on, from its parameters."""
    if service == "dynamodb":
        table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{params['TableName']}"
        return f"{table}/index/{params['IndexName']}" if "IndexName" in params else table
    if service == "sqs":
        account, name = urlsplit(params["QueueUrl"]).path.strip("/").split("/")
        return f"arn:aws:sqs:{REGION}:{account}:{name}"
    if service == "scheduler" and operation in ("CreateSchedule", "DeleteSchedule"):
        group = params.get("GroupName", "default")
        return f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{group}/{params['Name']}"
    if service == "sns" and "TopicArn" in params:
        return str(params["TopicArn"])
    if service == "s3" and "Key" in params:
        return f"arn:aws:s3:::{params['Bucket']}/{params['Key']}"
    if service == "pinpoint-sms-voice-v2" and operation in ("SendTextMessage", "SendMediaMessage"):
        # A phone number, pool or sender id: none of them a resource of the template
        return f"origination identity {params.get('OriginationIdentity')}"
    raise AssertionError(f"{service}.{operation}: this test does not know what it acts on; teach it")


# A transaction is authorized item by item, by each item's own action on its own table.
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def requests_for(service: str, operation: str, params: Mapping[str, Any]) -> list[Request]:
    prefix = IAM_PREFIX.get(service)
    assert prefix is not None, f"{service}.{operation}: a client this test does not know"
    call = f"{service}.{operation}"
    if call == "dynamodb.TransactWriteItems":
        return [
            Request(f"dynamodb:{TRANSACT_ACTIONS[kind]}", resource_of(service, kind, item), call)
            for entry in params["TransactItems"]
            for kind, item in entry.items()
        ]
    action = BATCH_ACTIONS.get(f"{prefix}:{operation}", f"{prefix}:{operation}")
    requests = [Request(action, resource_of(service, operation, params), call)]
    if call == "scheduler.CreateSchedule" and "RoleArn" in params.get("Target", {}):
        # Naming a role for the schedule to assume passes it to EventBridge Scheduler
        requests.append(
            Request(
                "iam:PassRole",
                params["Target"]["RoleArn"],
                call,
                (("iam:PassedToService", "scheduler.amazonaws.com"),),
            )
        )
    if call == "pinpoint-sms-voice-v2.SendMediaMessage":
        # "the identity that calls send-media-message must have read access to the bucket"
        for url in params.get("MediaUrls", []):
            bucket, key = url.removeprefix("s3://").split("/", 1)
            requests.append(Request("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", call))
    return requests


# -- recording the calls ------------------------------------------------------------------------------

_PARAMS = "least-privilege-params"


class AwsCalls:
    """Every AWS call made through the watched clients, by the function running at the time."""

    def __init__(self) -> None:
        self.by_function: defaultdict[str, list[Request]] = defaultdict(list)
        self.per_invocation: defaultdict[str, list[list[str]]] = defaultdict(list)  # calls, in order
        self._function: str | None = None

    def watch(self, client: Any) -> None:
        events = client.meta.events
        # The call's own parameters, kept in the request context botocore hands to before-call
        events.register("provide-client-params.*.*", self._keep_params, unique_id=_PARAMS)
        # ``before-call`` fires once per API call (not per retry). First, ahead of a Stubber,
        # which answers there and so ends the chain for any handler behind it.
        events.register_first("before-call.*.*", self._record, unique_id=f"{_PARAMS}-record")

    def _keep_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS] = dict(params)

    def _record(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        requests = requests_for(model.service_model.service_name, model.name, context[_PARAMS])
        if self._function is not None:
            self.by_function[self._function].extend(requests)
            self.per_invocation[self._function][-1].append(model.name)

    @contextmanager
    def running(self, function: str) -> Iterator[None]:
        outer, self._function = self._function, function
        self.per_invocation[function].append([])
        try:
            yield
        finally:
            self._function = outer


# -- what the template grants -------------------------------------------------------------------------


def _wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's matching: ``*`` any run of characters, ``?`` any one."""
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


@dataclass(frozen=True)
class Grant:
    """One action on one resource, as a statement of the template allows it."""

    action: str
    resource: str
    written: str  # as the template writes it, for the failure message
    conditions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def allows(self, request: Request) -> bool:
        return (
            _wildcard(self.action, request.action, ignore_case=True)
            and _wildcard(self.resource, request.resource)
            and self._conditions_hold(dict(request.conditions))
        )

    def _conditions_hold(self, context: dict[str, str]) -> bool:
        for operator, keys in self.conditions.items():
            if operator != "StringEquals":
                return False  # not evaluated here: treated as not satisfied
            for key, expected in keys.items():
                if context.get(key) not in (expected if isinstance(expected, list) else [expected]):
                    return False
        return True

    def __str__(self) -> str:
        return self.written


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resolver(stack: Stack) -> Stack:
    """The stack's names, and the media bucket's (the local stack makes no bucket, the test does)."""
    resolved = Stack.from_json(stack.to_json())
    bucket = resolved.resolve(load_template()["Resources"]["MediaBucket"]["Properties"]["BucketName"])
    resolved.refs["MediaBucket"] = bucket
    resolved.attributes[("MediaBucket", "Arn")] = f"arn:aws:s3:::{bucket}"
    return resolved


def policy_grants(function: str, stack: Stack) -> list[Grant]:
    """What the function's own policy statements allow, resolved to this stack's ARNs."""
    names = resolver(stack)
    grants = []
    for policy in load_template()["Resources"][function]["Properties"].get("Policies", []):
        for statement in policy["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            conditions = {
                operator: {key: names.resolve(value) for key, value in keys.items()}
                for operator, keys in statement.get("Condition", {}).items()
            }
            for action in as_list(statement["Action"]):
                for resource in as_list(statement["Resource"]):
                    grants.append(
                        Grant(action, names.resolve(resource), f"{action} on {resource}", conditions)
                    )
    return grants


def event_source_grants(function: str, stack: Stack) -> list[Grant]:
    """What SAM adds for an SQS event: the poller's actions on that queue (never the function's)."""
    names = resolver(stack)
    return [
        Grant(
            action, names.resolve(event["Properties"]["Queue"]), f"{action} (the SQS event's managed policy)"
        )
        for event in functions()[function].events.values()
        if event["Type"] == "SQS"
        for action in EVENT_SOURCE_ACTIONS
    ]


# -- the world the functions run in -------------------------------------------------------------------


@dataclass
class World:
    aws: Aws
    invoke: Callable[[str], Invoke]
    calls: AwsCalls
    clock: FakeClock
    sms_voice: Stubber
    fetched: list[str]

    def run(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        with self.calls.running(function):
            return self.invoke(function)(event)

    def api(self, function: str, event: dict[str, Any]) -> Answer:
        return enveloped(self.run(function, event), event)

    def send(self, body: dict[str, Any], *, mode: str = "test", key: str | None = None) -> Answer:
        headers = {"Idempotency-Key": key} if key is not None else {}
        return self.api(SEND, send_event(body, authorizer=authorizer_context(mode=mode), headers=headers))

    def accepted(self, body: dict[str, Any], *, mode: str = "test") -> str:
        answer = self.send(body, mode=mode)
        assert answer.status == 202, answer.body
        message_id: str = answer.data["id"]
        return message_id

    def cancel(self, message_id: str) -> Answer:
        return self.api(CANCEL, message_event("DELETE", message_id, authorizer=authorizer_context()))

    def dispatch(self, *message_ids: str) -> int:
        """The dispatcher on one SQS batch of these messages; how many records it reported failed."""
        response = self.run(
            DISPATCH, sqs_event([dispatch_body(ORG, message_id) for message_id in message_ids])
        )
        return len(response["batchItemFailures"])

    def receipts(self) -> list[str]:
        """The bodies on the receipts queue (received and deleted)."""
        return drain(self.aws.client("sqs"), self.aws.stack.refs["ReceiptsQueue"])

    def drain(self) -> list[str]:
        """The ids on the dispatch queue (received and deleted, as the event source mapping does)."""
        sqs, url = self.aws.client("sqs"), self.aws.stack.refs["DispatchQueue"]
        ids: list[str] = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                ids.append(json.loads(message["Body"])["id"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return ids

    def status(self, message_id: str) -> str | None:
        return stored_status(
            self.aws.client("dynamodb"), self.aws.stack.refs["MessagesTable"], ORG, message_id
        )


def _forget_containers() -> None:
    """The handlers' per-container caches, which hold clients made in another test."""
    new_container()


@pytest.fixture
def world(aws: Aws, invoke: Callable[[str], Invoke], monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    fake_clock = FakeClock(START)
    monkeypatch.setattr(clock, "utc_now", fake_clock)
    # The shared Metrics object read its namespace when first imported, maybe at collection
    monkeypatch.setattr(metrics, "namespace", "AgentMessage")
    # The media host of a live MMS (the fetcher MediaStager builds when given none)
    fetched: list[str] = []

    def fetch(url: str) -> media.Media:
        fetched.append(url)
        return media.Media(body=PNG, content_type="image/png")

    monkeypatch.setattr(media, "HttpsMediaFetcher", lambda: fetch)
    _forget_containers()
    # Every client the functions use, watched before any handler makes a call
    calls = AwsCalls()
    for factory in (aws_clients.dynamodb, aws_clients.sqs, aws_clients.scheduler, aws_clients.sns):
        for limits in every_call_limits():
            calls.watch(factory(limits))
    calls.watch(aws_clients.sms_voice())
    calls.watch(aws_clients.s3())
    # The media bucket, in moto; AWS End User Messaging, stubbed
    aws.client("s3").create_bucket(Bucket=os.environ["MEDIA_BUCKET"])
    stubber = Stubber(aws_clients.sms_voice())
    stubber.activate()
    try:
        yield World(aws, invoke, calls, fake_clock, stubber, fetched)
    finally:
        stubber.deactivate()
        _forget_containers()


# -- each function through its paths ----------------------------------------------------------------


def exercise_authorizer(world: World) -> None:
    dynamodb, table = world.aws.client("dynamodb"), world.aws.stack.refs["ApiKeysTable"]
    key, record = store_key(dynamodb, table)
    revoked, _ = store_key(dynamodb, table, revoked=True)

    # A stored key is allowed
    allowed = world.run(AUTHORIZER, authorizer_event(f"Bearer {key}"))
    assert allowed["context"]["key_id"] == record.key_id
    # An unknown, a revoked, a malformed and a missing key are refused
    for authorization in (f"Bearer {generate_key(Mode.TEST)}", f"Bearer {revoked}", "Bearer am_test_x", None):
        with pytest.raises(Unauthorized):
            world.run(AUTHORIZER, authorizer_event(authorization))


def exercise_send(world: World) -> None:
    """Every path of the send function, the Idempotency table's included.

    None of them calls dynamodb:GetItem on the Idempotency table: Powertools reads an existing
    record from its failed conditional put (ReturnValuesOnConditionCheckFailure=ALL_OLD), and
    calls GetItem only when that answer holds no item (boto3 older than 1.26.164). So the
    template's grant of it is reported unused: a finding for the template, not for this test.
    """
    # Now, and an hour ahead (a one-time schedule)
    world.accepted(send_body())
    world.accepted(send_body(scheduled_at=clock.to_iso(START + timedelta(hours=1))))

    # Under an Idempotency-Key: the first request, its retry, and the key reused with another body
    first = world.send(send_body(), key="order-1")
    assert first.status == 202
    assert world.send(send_body(), key="order-1").data == first.data
    assert_error(world.send(send_body(text="another"), key="order-1"), 422, "IDEMPOTENCY_KEY_REUSED")

    # A request that fails under a key frees it for a corrected one
    assert_error(world.send(send_body(to="12"), key="order-2"), 422, "VALIDATION_FAILED")
    assert world.send(send_body(), key="order-2").status == 202

    # A retry that arrives (at another container) while the first request is still running
    second_container = fresh_container("functions.send.app")
    enqueue = AwsDispatchTriggers.enqueue
    retries: list[Answer] = []

    def enqueue_while_the_client_retries(self: AwsDispatchTriggers, org_id: str, message_id: str) -> None:
        if not retries:
            event = send_event(
                send_body(), authorizer=authorizer_context(), headers={"Idempotency-Key": "order-3"}
            )
            retries.append(enveloped(second_container.lambda_handler(event, FakeLambdaContext()), event))
        enqueue(self, org_id, message_id)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AwsDispatchTriggers, "enqueue", enqueue_while_the_client_retries)
        # (the retry ran inside this request and took over the shared request id: no envelope check)
        event = send_event(
            send_body(), authorizer=authorizer_context(), headers={"Idempotency-Key": "order-3"}
        )
        assert answer_of(world.run(SEND, event)).status == 202
    [retry] = retries
    assert_error(retry, 409, "IDEMPOTENCY_IN_PROGRESS")


def exercise_receipts(world: World) -> None:
    # A sandboxed message, sent: its receipts deliver it
    delivered = world.accepted(send_body())
    assert world.drain() == [delivered]
    assert world.dispatch(delivered) == 0
    queue_arn = world.aws.stack.attributes[("ReceiptsQueue", "Arn")]
    assert world.run(RECEIPT, sqs_event(world.receipts(), queue_arn=queue_arn))["batchItemFailures"] == []
    assert world.status(delivered) == "delivered"
    # A receipt that comes again changes nothing; one for no message of ours is dropped
    again = world.run(RECEIPT, sqs_event(['{"eventType": "TEXT_DELIVERED"}'], queue_arn=queue_arn))
    assert again["batchItemFailures"] == []


def exercise_get(world: World) -> None:
    message_id = world.accepted(send_body())

    # The owner reads it; another org and a malformed id find nothing
    assert world.api(GET, message_event("GET", message_id, authorizer=authorizer_context())).status == 200
    other = message_event("GET", message_id, authorizer=authorizer_context(org_id=OTHER_ORG))
    assert_error(world.api(GET, other), 404, "NOT_FOUND")
    assert_error(
        world.api(GET, message_event("GET", "not-a-uuid", authorizer=authorizer_context())), 404, "NOT_FOUND"
    )


def exercise_cancel(world: World) -> None:
    later = clock.to_iso(START + timedelta(hours=1))
    now_id = world.accepted(send_body())
    scheduled_id = world.accepted(send_body(scheduled_at=later))
    unscheduled_id = world.accepted(send_body(scheduled_at=later))
    sending_id = world.accepted(send_body())
    # a schedule already gone (it fired, or a previous cancel deleted it)
    world.aws.client("scheduler").delete_schedule(
        Name=unscheduled_id, GroupName=world.aws.stack.refs["MessageScheduleGroup"]
    )
    set_status(
        world.aws.client("dynamodb"), world.aws.stack.refs["MessagesTable"], ORG, sending_id, Status.SENDING
    )

    for message_id in (now_id, scheduled_id, unscheduled_id, now_id):
        answer = world.cancel(message_id)
        assert (answer.status, answer.data["status"]) == (200, "canceled")
    assert_error(world.cancel(sending_id), 409, "MESSAGE_NOT_CANCELABLE")
    assert_error(world.cancel("not-a-uuid"), 404, "NOT_FOUND")


def exercise_dispatch(world: World) -> None:
    bucket = os.environ["MEDIA_BUCKET"]
    sandboxed = world.accepted(send_body())
    live_sms = world.accepted(send_body(), mode="live")
    live_mms = world.accepted(send_body(channel="mms", media_urls=[MEDIA_SOURCE]), mode="live")
    throttled = world.accepted(send_body(), mode="live")
    canceled = world.accepted(send_body())
    assert world.cancel(canceled).status == 200
    assert sorted(world.drain()) == sorted([sandboxed, live_sms, live_mms, throttled, canceled])
    world.clock.advance(1)

    # A test key's message goes to the sandbox, which publishes its receipts once it is recorded
    assert world.dispatch(sandboxed) == 0
    assert world.status(sandboxed) == "sent"
    assert len(world.receipts()) == 2

    # A live SMS goes to AWS End User Messaging
    world.sms_voice.add_response(
        "send_text_message",
        {"MessageId": "aws-sms-1"},
        expected_params={
            "DestinationPhoneNumber": RECIPIENT,
            "OriginationIdentity": SENDER,
            "MessageBody": TEXT,
            "MessageType": "TRANSACTIONAL",
            "Context": {"message_id": live_sms, "org_id": ORG},
            "ConfigurationSetName": os.environ["CONFIGURATION_SET_NAME"],
        },
    )
    assert world.dispatch(live_sms) == 0
    assert world.status(live_sms) == "sent"

    # A live MMS has its media staged in the bucket, then sent from there
    key = f"{ORG}/{live_mms}/0.png"
    world.sms_voice.add_response(
        "send_media_message",
        {"MessageId": "aws-mms-1"},
        expected_params={
            "DestinationPhoneNumber": RECIPIENT,
            "OriginationIdentity": SENDER,
            "MessageBody": TEXT,
            "MediaUrls": [f"s3://{bucket}/{key}"],
            "Context": {"message_id": live_mms, "org_id": ORG},
            "ConfigurationSetName": os.environ["CONFIGURATION_SET_NAME"],
        },
    )
    assert world.dispatch(live_mms) == 0
    assert world.status(live_mms) == "sent"
    assert world.fetched == [MEDIA_SOURCE]
    assert world.aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read() == PNG

    # A throttled live send goes back to the queue
    world.sms_voice.add_client_error(
        "send_text_message", service_error_code="ThrottlingException", http_status_code=400
    )
    assert world.dispatch(throttled) == 1
    assert world.status(throttled) == "queued"

    # A canceled message is skipped
    assert world.dispatch(canceled) == 0
    assert world.status(canceled) == "canceled"
    world.sms_voice.assert_no_pending_responses()


def exercise_sweep(world: World) -> None:
    # A message whose enqueue was lost, one valid for 40 s, and one whose dispatcher died mid-send
    lost = world.accepted(send_body())
    expiring = world.accepted(send_body(valid_until=clock.to_iso(START + timedelta(seconds=40))))
    stuck = world.accepted(send_body())
    world.drain()
    repository = DynamoMessageRepository(world.aws.client("dynamodb"), world.aws.stack.refs["MessagesTable"])
    assert repository.claim(ORG, stuck, START, lease_until=START + timedelta(seconds=10)).won

    # A minute later the sweep re-enqueues the first, expires the second and fails the third
    world.clock.advance(61)
    report = world.run(SWEEP, scheduled_event())

    assert (report["requeued"], report["expired"], report["failed"], report["errors"]) == (1, 1, 1, 0)
    assert world.drain() == [lost]
    assert (world.status(expiring), world.status(stuck)) == ("expired", "failed")


EXERCISES: dict[str, Callable[[World], None]] = {
    AUTHORIZER: exercise_authorizer,
    SEND: exercise_send,
    GET: exercise_get,
    CANCEL: exercise_cancel,
    DISPATCH: exercise_dispatch,
    SWEEP: exercise_sweep,
    RECEIPT: exercise_receipts,
}


def test_every_function_of_the_template_is_exercised() -> None:
    assert sorted(EXERCISES) == sorted(functions())


@pytest.mark.parametrize("function", list(EXERCISES))
def test_every_call_a_function_makes_is_allowed_by_its_own_policy(world: World, function: str) -> None:
    # Given the function run through its paths
    EXERCISES[function](world)
    requests = world.calls.by_function[function]
    assert requests, f"{function} made no AWS call: are the watched clients the ones it uses?"

    # Then its own statements (and, for the dispatcher, its SQS event's) allow each call it made
    grants = policy_grants(function, world.aws.stack) + event_source_grants(function, world.aws.stack)
    denied = sorted(
        {str(request) for request in requests if not any(grant.allows(request) for grant in grants)}
    )
    assert denied == [], f"{function} calls what infra/template.yaml does not grant it: {denied}"


@pytest.mark.parametrize("function", list(EXERCISES))
def test_every_grant_of_a_function_is_used_by_one_of_its_paths(world: World, function: str) -> None:
    # Given the function run through its paths
    EXERCISES[function](world)
    requests = world.calls.by_function[function]

    # Then each action its own statements grant was needed by at least one call
    grants = policy_grants(function, world.aws.stack)
    unused = [str(grant) for grant in grants if not any(grant.allows(request) for request in requests)]
    assert unused == [], f"infra/template.yaml grants {function} what none of its paths needs: {unused}"


@pytest.mark.parametrize("function", sorted(SEQUENCES))
def test_no_invocation_makes_more_calls_than_its_time_budget_counts(world: World, function: str) -> None:
    # Given the API function run through its paths
    EXERCISES[function](world)

    # Then none of its invocations made more AWS calls, in sequence, than its budget adds up
    longest = max(world.calls.per_invocation[function], key=len)
    assert len(longest) <= len(SEQUENCES[function]), f"{function}: {longest}"
