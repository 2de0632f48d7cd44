"""Guarantee 3: an accepted message is never lost.

A message whose enqueue or schedule was lost is found by the sweeper, which runs every 60 s of
(fake) time, and is sent no later than two minutes after its time, whatever the phase of the
sweeper's minute relative to the message.
"""

import json
from datetime import timedelta
from typing import Any

import pytest

from agentmessage.domain import clock
from agentmessage.domain.accept import SWEEP_GRACE
from agentmessage.domain.status import Status
from functions.dispatch import app as dispatch_app
from functions.send import app as send_app
from functions.sweep import app as sweep_app
from tests.guarantees.conftest import World
from tests.support.containers import dispatcher_sandbox
from tests.support.events import FakeLambdaContext, authorizer_context, scheduled_event, send_event, sqs_event
from tests.support.fakes import START, FakeClock
from tests.support.queues import drain, lose

ORG = "org_recovery"
SWEEP_EVERY = timedelta(seconds=60)
PROMISE = timedelta(minutes=2)
SCHEDULED_AT = START + timedelta(minutes=5)
LOSSES = ["the enqueue failed", "the schedule was not created", "the schedule never fired"]
PHASES = [0.0, 0.001, 17.0, 30.0, 59.999]  # seconds from the send to the sweeper's next run


def _drain(world: World) -> list[str]:
    return drain(world.client("sqs"), world.stack.refs["DispatchQueue"])


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("loss", LOSSES)
def test_recovery(world: World, monkeypatch: pytest.MonkeyPatch, loss: str, phase: float) -> None:
    fake_clock = FakeClock(START)
    monkeypatch.setattr(clock, "utc_now", fake_clock)

    # Given a message accepted at 06:00, now or for 06:05, whose trigger is lost
    body: dict[str, Any] = {"from": "+15555550100", "to": "+15555550199", "text": "Your code is 123456"}
    if loss == "the enqueue failed":
        lose("sqs", "SendMessage")
        due = START
    else:
        body["scheduled_at"] = "2026-11-22T06:05:00Z"
        due = SCHEDULED_AT
        if loss == "the schedule was not created":
            lose("scheduler", "CreateSchedule")
    response = send_app.lambda_handler(
        send_event(body, authorizer=authorizer_context(org_id=ORG)), FakeLambdaContext()
    )
    assert response["statusCode"] == 202, response["body"]
    message_id = json.loads(response["body"])["data"]["id"]
    assert _drain(world) == []

    # When the sweeper runs every minute (and the dispatcher takes whatever the queue holds at once)
    tick = START + timedelta(seconds=phase)
    sweeps = 0
    while tick <= due + 3 * PROMISE:
        fake_clock.set(tick)
        sweep_app.lambda_handler(scheduled_event(), FakeLambdaContext())
        sweeps += 1
        if bodies := _drain(world):
            assert [json.loads(text)["id"] for text in bodies] == [message_id]
            dispatch_app.lambda_handler(sqs_event(bodies), FakeLambdaContext())
            break
        tick += SWEEP_EVERY

    # Then it is sent within two minutes of its time (and not before the sweeper's grace is over)
    message = world.stored(ORG, message_id)
    assert message.status is Status.SENT, (loss, phase, sweeps)
    assert message.sent_at is not None
    assert SWEEP_GRACE < message.sent_at - due <= PROMISE - timedelta(seconds=15), (
        loss,
        phase,
        message.sent_at,
    )
    assert dispatcher_sandbox().times_accepted(message_id) == 1
