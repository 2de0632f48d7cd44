"""Guarantee 2: a message is handed to a carrier at most once.

The same ``{org_id, id}`` delivered to the dispatcher many times at once (a duplicate queue
delivery, a schedule that fires twice) reaches the carrier exactly once: the claim
``queued -> sending`` is one conditional write, and only one delivery can win it.
"""

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from agentmessage.carriers.sandbox import SandboxCarrier
from agentmessage.domain import clock
from agentmessage.domain.accept import sweep_due_at
from agentmessage.domain.dispatch import DispatchPolicy, Outcome, Pricing, dispatch_message
from agentmessage.domain.status import Status
from functions.dispatch import app as dispatch_app
from functions.send import app as send_app
from tests.guarantees.conftest import World
from tests.support.containers import dispatcher_sandbox
from tests.support.events import FakeLambdaContext, authorizer_context, send_event, sqs_event
from tests.support.fakes import START, FakeClock
from tests.support.messages import a_message

MESSAGES = 100
DELIVERIES = 8
ORG = "org_once"
THROTTLED_ONCE = "+15555550102"  # the sandbox refuses attempt 1 (retryable), accepts attempt 2
ANYONE = "+15555550199"
POLICY = DispatchPolicy(
    lease=timedelta(seconds=300),
    max_attempts=5,
    pricing=Pricing(sms_per_part=Decimal("0.0079"), mms_per_part=Decimal("0.0200")),
)


def test_at_most_once_under_concurrent_duplicate_deliveries(world: World) -> None:
    repository = world.repository()
    carrier = SandboxCarrier()
    outcomes: dict[str, Counter[Outcome]] = {}

    def deliver(message_id: str, barrier: threading.Barrier) -> Outcome:
        barrier.wait()
        return dispatch_message(
            ORG,
            message_id,
            repository=repository,
            carrier_for=lambda _: carrier,
            policy=POLICY,
            now=clock.utc_now,
        )

    with ThreadPoolExecutor(max_workers=DELIVERIES, thread_name_prefix="dispatcher") as pool:
        for number in range(MESSAGES):
            # Given a queued message (one in five is throttled on its first attempt)
            to = THROTTLED_ONCE if number % 5 == 0 else ANYONE
            message = a_message(org_id=ORG, to=to, created_at=clock.utc_now())
            repository.create(message, due_at=sweep_due_at(message))

            # When eight deliveries of it reach eight dispatchers at the same moment
            barrier = threading.Barrier(DELIVERIES)
            futures = [pool.submit(deliver, message.id, barrier) for _ in range(DELIVERIES)]
            outcomes[message.id] = Counter(future.result(timeout=30) for future in futures)

    # A throttled message that no concurrent delivery picked up again is queued: SQS redelivers it
    for message_id, counted in outcomes.items():
        if Outcome.RETRY in counted and Outcome.SENT not in counted:
            counted[
                dispatch_message(
                    ORG,
                    message_id,
                    repository=repository,
                    carrier_for=lambda _: carrier,
                    policy=POLICY,
                    now=clock.utc_now,
                )
            ] += 1

    # Then each message reached the carrier exactly once, and only the delivery that won says so
    finals = world.stored_many(ORG, list(outcomes))
    for message_id, counted in outcomes.items():
        assert carrier.times_accepted(message_id) == 1, (message_id, counted)
        assert counted[Outcome.SENT] == 1, counted
        assert set(counted) <= {Outcome.SENT, Outcome.SKIPPED, Outcome.RETRY}, counted
        final = finals[message_id]
        assert final.status is Status.SENT
        assert final.attempts == (2 if counted[Outcome.RETRY] else 1)
    assert len(carrier.accepted) == MESSAGES


def _schedule_input(world: World, message_id: str) -> str:
    """What the message's one-time schedule will put on the dispatch queue when it fires."""
    schedule = world.client("scheduler").get_schedule(
        Name=message_id, GroupName=world.stack.refs["MessageScheduleGroup"]
    )
    assert schedule["ScheduleExpression"] == "at(2026-11-22T06:02:00)"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["Target"]["Arn"] == world.stack.attributes[("DispatchQueue", "Arn")]
    body: str = schedule["Target"]["Input"]
    return body


def _container(records: list[dict[str, Any]]) -> list[str]:
    """One more dispatcher container: its own batch processor, the dispatcher's record handler."""
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event={"Records": records},
        record_handler=dispatch_app.handle_record,
        processor=processor,
        context=FakeLambdaContext(),  # type: ignore[arg-type]
    )
    return [str(failure["itemIdentifier"]) for failure in response["batchItemFailures"]]


def test_at_most_once_when_a_schedule_fires_twice(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_clock = FakeClock(START)
    monkeypatch.setattr(clock, "utc_now", fake_clock)

    # Given messages scheduled for 06:02 through the send handler
    message_ids: list[str] = []
    for _ in range(MESSAGES):
        body = {
            "from": "+15555550100",
            "to": ANYONE,
            "text": "Your code is 123456",
            "scheduled_at": "2026-11-22T06:02:00Z",
        }
        response = send_app.lambda_handler(
            send_event(body, authorizer=authorizer_context(org_id=ORG)), FakeLambdaContext()
        )
        assert response["statusCode"] == 202, response["body"]
        message_ids.append(json.loads(response["body"])["data"]["id"])
    inputs = {message_id: _schedule_input(world, message_id) for message_id in message_ids}
    assert all(json.loads(body) == {"org_id": ORG, "id": message_id} for message_id, body in inputs.items())

    # When each schedule fires twice at 06:02 (EventBridge Scheduler delivers at least once)
    fake_clock.set(START + timedelta(minutes=2))
    concurrent, sequential = message_ids[: MESSAGES // 2], message_ids[MESSAGES // 2 :]

    # ...half of them reaching two dispatcher containers at the same moment,
    events = [
        sqs_event([inputs[message_id] for message_id in concurrent[start : start + 10]])
        for start in range(0, len(concurrent), 10)
    ]
    barrier = threading.Barrier(2)

    def container() -> list[str]:
        barrier.wait()
        return [failure for event in events for failure in _container(event["Records"])]

    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [pool.submit(container) for _ in range(2)]
        assert [future.result(timeout=60) for future in failures] == [[], []]

    # ...and half one after the other through the dispatch handler (twice in one batch, then again)
    for message_id in sequential:
        twice = sqs_event([inputs[message_id], inputs[message_id]])
        assert dispatch_app.lambda_handler(twice, FakeLambdaContext())["batchItemFailures"] == []
        again = sqs_event([inputs[message_id]])
        assert dispatch_app.lambda_handler(again, FakeLambdaContext())["batchItemFailures"] == []

    # Then every message reached the carrier exactly once
    sandbox = dispatcher_sandbox()
    finals = world.stored_many(ORG, message_ids)
    for message_id in message_ids:
        assert sandbox.times_accepted(message_id) == 1, message_id
        assert finals[message_id].status is Status.SENT
        assert finals[message_id].attempts == 1
        assert finals[message_id].sent_at == START + timedelta(minutes=2)
