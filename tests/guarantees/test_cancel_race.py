"""Guarantee 1: a canceled message is never handed to a carrier.

A cancel and a dispatch of the same queued message, started together from two threads against
the moto server, race for the one conditional write on ``status = queued``: exactly one of them
wins, and a canceled message never reaches the carrier.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from agentmessage.carriers.base import Carrier
from agentmessage.carriers.sandbox import SandboxCarrier
from agentmessage.domain import clock
from agentmessage.domain.accept import sweep_due_at
from agentmessage.domain.caller import Caller, Scope
from agentmessage.domain.cancel import cancel_message
from agentmessage.domain.clock import to_iso
from agentmessage.domain.dispatch import DispatchPolicy, Outcome, Pricing, dispatch_message
from agentmessage.domain.errors import MessageNotCancelable
from agentmessage.domain.message import Message, Mode
from agentmessage.domain.ports import MessageRepository, Transition
from agentmessage.domain.status import Status
from agentmessage.integration.message_items import from_item
from agentmessage.integration.messages_table import DynamoMessageRepository
from tests.guarantees.conftest import World
from tests.support.messages import a_message

TRIALS = 500
ORG = "org_race"
CALLER = Caller(org_id=ORG, key_id="key_1", mode=Mode.TEST, scopes=frozenset({Scope.SEND.value}))
POLICY = DispatchPolicy(
    lease=timedelta(seconds=300),
    max_attempts=5,
    pricing=Pricing(sms_per_part=Decimal("0.0079"), mms_per_part=Decimal("0.0200")),
)


class NoSchedules:
    def unschedule(self, message_id: str) -> None:  # immediate messages have no schedule
        raise AssertionError("an immediate message has no schedule")


@dataclass(frozen=True)
class Trial:
    message_id: str
    canceled: Message | None  # what cancel_message answered; None: it was not cancelable
    outcome: Outcome


def race(
    pool: ThreadPoolExecutor, repository: MessageRepository, carrier: Carrier, message_id: str, trial: int
) -> Trial:
    barrier = threading.Barrier(2)

    def cancel() -> Message | None:
        barrier.wait()
        try:
            return cancel_message(
                CALLER, message_id, repository=repository, schedules=NoSchedules(), now=clock.utc_now()
            )
        except MessageNotCancelable:
            return None

    def dispatch() -> Outcome:
        barrier.wait()
        return dispatch_message(
            ORG,
            message_id,
            repository=repository,
            carrier_for=lambda _: carrier,
            policy=POLICY,
            now=clock.utc_now,
        )

    # Alternate which side is submitted first, so neither thread is always the first to run.
    if trial % 2:
        canceled, dispatched = pool.submit(cancel), pool.submit(dispatch)
    else:
        dispatched, canceled = pool.submit(dispatch), pool.submit(cancel)
    return Trial(message_id, canceled.result(timeout=30), dispatched.result(timeout=30))


def test_cancel_vs_dispatch_race(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    repository = world.repository()
    carrier = SandboxCarrier()
    trials: list[Trial] = []

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="race") as pool:
        for number in range(TRIALS):
            # Given a queued message (an immediate send, due now)
            message = a_message(org_id=ORG, created_at=clock.utc_now())
            repository.create(message, due_at=sweep_due_at(message))
            # When a cancel and a dispatch of it start at the same moment
            trials.append(race(pool, repository, carrier, message.id, number))

    # Then in every trial exactly one of them won, and the outcome is what the store holds
    cancel_won = dispatch_won = 0
    finals = world.stored_many(ORG, [trial.message_id for trial in trials])
    for trial in trials:
        final = finals[trial.message_id]
        accepted = carrier.times_accepted(trial.message_id)
        canceled = trial.canceled is not None
        sent = trial.outcome is Outcome.SENT
        assert canceled != sent, f"both or neither won: {trial}, final {final.status}"
        assert trial.outcome in {Outcome.SENT, Outcome.SKIPPED}, trial
        if canceled:
            assert final.status is Status.CANCELED, trial
            assert accepted == 0, f"a canceled message was handed to the carrier: {trial}"
            assert final.attempts == 0
            assert final.cost.amount == 0
            cancel_won += 1
        else:
            assert final.status is Status.SENT, trial
            assert accepted == 1, f"a sent message was accepted {accepted} times: {trial}"
            assert final.canceled_at is None
            dispatch_won += 1

    assert cancel_won + dispatch_won == TRIALS
    assert len(carrier.accepted) == dispatch_won
    # A race that one side always wins proves nothing: both must have won some trials
    assert cancel_won > 0
    assert dispatch_won > 0
    with capsys.disabled():
        print(f"\ncancel vs dispatch, {TRIALS} trials: cancel won {cancel_won}, dispatch won {dispatch_won}")


class CheckThenActRepository(DynamoMessageRepository):
    """A broken claim: it reads the status, then writes without a condition (check-then-act)."""

    def claim(self, org_id: str, message_id: str, now: datetime, lease_until: datetime) -> Transition:
        current = self.get(org_id, message_id)
        if current is None or current.status is not Status.QUEUED:
            return Transition(won=False, message=current)
        response = self._client.update_item(
            TableName=self._table,
            Key=self._key(org_id, message_id),
            UpdateExpression="SET #status = :sending, due_at = :lease,"
            " attempts = if_not_exists(attempts, :zero) + :one",
            ConditionExpression="attribute_exists(id)",  # the message exists: nothing about its status
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":sending": {"S": Status.SENDING.value},
                ":lease": {"S": to_iso(lease_until)},
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
            },
            ReturnValues="ALL_NEW",
        )
        return Transition(won=True, message=from_item(response["Attributes"]))


def test_the_race_catches_a_claim_that_is_not_one_conditional_write(world: World) -> None:
    # Given a dispatcher whose claim is a read followed by an unconditional write
    repository = CheckThenActRepository(world.client("dynamodb"), world.table)
    carrier = SandboxCarrier()

    # When it races cancels as above
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="race") as pool:
        for trial in range(TRIALS):  # stops at the first trial that catches it
            message = a_message(org_id=ORG, created_at=clock.utc_now())
            repository.create(message, due_at=sweep_due_at(message))
            outcome = race(pool, repository, carrier, message.id, trial)
            if outcome.canceled is not None and outcome.outcome is Outcome.SENT:
                break

    # Then a trial soon shows a message both canceled and handed to the carrier
    assert outcome.canceled is not None
    assert outcome.outcome is Outcome.SENT
    assert carrier.times_accepted(outcome.message_id) == 1
