"""The three guarantees under any interleaving: a hypothesis state machine over the pipeline.

The system under test is the real domain code (``accept_message``, ``cancel_message``,
``dispatch_message``, ``sweep``) on the real DynamoDB repository, served by the moto server, with
the sandbox carrier. What it runs on is modelled here: the dispatch queue and the one-time
schedules are lossy transports (an enqueue can fail, a queued delivery or a schedule can be
lost, a delivery can come twice), the dispatcher can die before or after the carrier took a
message, the clock only moves when a rule moves it, and the sweeper runs at every minute of that
clock (plus, now and then, an extra run). The dispatcher takes what the queue holds before time
moves on, as the SQS event source does within seconds.

After every step the invariants are checked against the table:
1. a canceled message was never accepted by the carrier, nor handed to it after the cancel; no
   message is handed to the carrier before its time;
2. no message was accepted more than once;
3. an accepted message is sent, delivered or failed (or still ``sending`` only because its
   dispatcher died after the carrier took it, until its lease runs out);
4. nothing accepted is lost: a queued message is claimed by a dispatcher (or reaches a terminal
   status) less than two minutes after its time, or after a retryable refusal; a claimed message
   is not left ``sending`` beyond its lease and one sweep;
5. cost is 0 unless the message was sent; statuses only move along the status machine.
"""

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from agentmessage.api.v1.requests import to_command
from agentmessage.carriers.base import OutboundMessage, SendResult, TimeLeft, no_time_limit
from agentmessage.carriers.sandbox import SandboxCarrier
from agentmessage.domain import clock
from agentmessage.domain.accept import accept_message
from agentmessage.domain.caller import Caller, Scope
from agentmessage.domain.cancel import cancel_message
from agentmessage.domain.clock import to_iso
from agentmessage.domain.dispatch import DispatchPolicy, Outcome, Pricing, dispatch_message
from agentmessage.domain.errors import MessageNotCancelable, Unavailable
from agentmessage.domain.message import Message, Mode
from agentmessage.domain.status import TERMINAL, TRANSITIONS, Status
from agentmessage.domain.sweep import sweep
from agentmessage.integration.message_items import from_item
from agentmessage.integration.messages_table import DynamoMessageRepository
from agentmessage_local.template import table_definitions
from tests.guarantees.conftest import World
from tests.support.fakes import START, FakeClock

ORG = "org_stateful"
CALLER = Caller(org_id=ORG, key_id="key_1", mode=Mode.TEST, scopes=frozenset({Scope.SEND.value}))
SMS_PRICE = Decimal("0.0079")
LEASE = timedelta(seconds=300)
POLICY = DispatchPolicy(
    lease=LEASE, max_attempts=5, pricing=Pricing(sms_per_part=SMS_PRICE, mms_per_part=Decimal("0.0200"))
)
SHARDS = 2
SWEEP_EVERY = timedelta(seconds=60)
PROMISE = timedelta(minutes=2)  # guarantee 3: sent (claimed) no later than two minutes after its time
VISIBILITY = timedelta(seconds=180)  # the dispatch queue's VisibilityTimeout: a failed record comes back
NUMBERS = st.sampled_from(["+15555550199", "+15555550101", "+15555550102", "+15555550103", "+15555550104"])
PICK = st.integers(min_value=0, max_value=31)
SEEN: Counter[str] = Counter()  # what the examples did, printed at the end (evidence of coverage)
REACHABLE: dict[Status, set[Status]] = {}
for _start in Status:
    _seen, _todo = {_start}, [_start]
    while _todo:
        for _next in TRANSITIONS[_todo.pop()]:
            if _next not in _seen:
                _seen.add(_next)
                _todo.append(_next)
    REACHABLE[_start] = _seen


class DispatcherDied(Exception):
    """The dispatcher's Lambda died (a timeout, an out-of-memory) in the middle of a send."""


class ObservedCarrier:
    """The sandbox carrier, seen from the model: when each message was handed over; a way to make
    the dispatcher die just before or just after the carrier takes a message; and a way to let
    something else happen while the carrier holds it (between the claim and the record)."""

    name = "sandbox"

    def __init__(self, now: FakeClock) -> None:
        self.sandbox = SandboxCarrier()
        self.clock = now
        self.die: str | None = None  # "before" or "after" the carrier takes the message
        self.meanwhile: Callable[[str], None] | None = None
        self.handed: dict[str, list[datetime]] = {}

    def send(self, message: OutboundMessage, *, time_left: TimeLeft = no_time_limit) -> SendResult:
        self.handed.setdefault(message.message_id, []).append(self.clock.now)
        if self.die == "before":
            raise DispatcherDied()
        result = self.sandbox.send(message)
        if self.meanwhile is not None:
            self.meanwhile(message.message_id)
        if self.die == "after":
            raise DispatcherDied()
        return result

    def recorded(self, message: OutboundMessage, result: SendResult) -> None:
        """The model's carrier reports no receipts: a sent message stays sent."""


@dataclass
class Delivery:
    message_id: str
    origin: str  # "send", "schedule", "sweep", "redelivery" or "duplicate"


@dataclass
class Tracked:
    due: datetime
    waiting_since: datetime  # when it last became due while queued: its time, or a retryable refusal
    valid_until: datetime | None
    died_after_accept: bool = False
    statuses: list[Status] = field(default_factory=lambda: [Status.QUEUED])


class Transport:
    """The dispatch queue and the scheduler, as the model sees them (``SendTriggers``, ``Requeue``,
    ``ScheduleCanceller``)."""

    def __init__(self) -> None:
        self.queue: list[Delivery] = []
        self.schedules: dict[str, datetime] = {}
        self.fail = False

    def enqueue(self, org_id: str, message_id: str) -> None:
        if self.fail:
            raise Unavailable()
        self.queue.append(Delivery(message_id, "send"))

    def schedule(self, org_id: str, message_id: str, at: datetime) -> None:
        if self.fail:
            raise Unavailable()
        self.schedules[message_id] = at

    def unschedule(self, message_id: str) -> None:
        self.schedules.pop(message_id, None)

    def enqueue_many(self, entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
        self.queue.extend(Delivery(message_id, "sweep") for _, message_id in entries)
        return list(entries)

    def backlog(self) -> int:
        return len(self.queue)


class Pipeline(RuleBasedStateMachine):
    def __init__(self, world: World, holder: dict[str, FakeClock]) -> None:
        super().__init__()
        self.clock = FakeClock(START)
        holder["clock"] = self.clock  # what agentmessage.clock.utc_now answers (request validation)
        self.client = world.client("dynamodb")
        self.table = f"stateful-{uuid.uuid4().hex[:12]}"
        self.client.create_table(TableName=self.table, **table_definitions()["MessagesTable"]["create"])
        self.repository = DynamoMessageRepository(self.client, self.table, SHARDS)
        self.carrier = ObservedCarrier(self.clock)
        self.transport = Transport()
        self.inflight: list[tuple[datetime, str]] = []  # failed records, visible again at
        self.history: list[str] = []  # ids delivered at least once
        self.tracked: dict[str, Tracked] = {}
        self.next_sweep = START + SWEEP_EVERY

    def teardown(self) -> None:
        for message in self._messages():
            _note(f"final status: {message.status.value}")
        self.client.delete_table(TableName=self.table)

    # -- the system's moves ----------------------------------------------------------------------

    def _dispatch(self, message_id: str, die: str | None = None) -> None:
        self.carrier.die = die
        try:
            outcome: Outcome | None = dispatch_message(
                ORG,
                message_id,
                repository=self.repository,
                carrier_for=lambda _: self.carrier,
                policy=POLICY,
                now=self.clock,
            )
        except DispatcherDied:
            outcome = None
            self.tracked[message_id].died_after_accept |= die == "after"
        finally:
            self.carrier.die = None
        _note(f"dispatch: {outcome.value if outcome else 'died ' + str(die)}")
        self.history.append(message_id)
        if outcome is None or outcome is Outcome.RETRY:  # the record is not deleted: SQS delivers it again
            self.inflight.append((self.clock.now + VISIBILITY, message_id))
        if outcome is Outcome.RETRY:
            self.tracked[message_id].waiting_since = self.clock.now

    def _drain(self) -> None:
        while self.transport.queue:
            self._dispatch(self.transport.queue.pop(0).message_id)

    def _sweep(self) -> None:
        sweep(
            repository=self.repository,
            requeue=self.transport,
            now=self.clock.now,
            shards=SHARDS,
            page_size=5,
            max_pages=20,
        )

    def _run_until(self, target: datetime) -> None:
        """Move time to ``target``: schedules fire, failed records come back, the sweeper runs
        every minute, and the dispatcher takes what the queue holds after each of those."""
        self._drain()
        while True:
            moment = min(
                [self.next_sweep, *self.transport.schedules.values(), *(at for at, _ in self.inflight)]
            )
            if moment > target:
                break
            self.clock.set(moment)
            for message_id, at in sorted(self.transport.schedules.items(), key=lambda item: item[1]):
                if at <= moment:
                    del self.transport.schedules[message_id]
                    self.transport.queue.append(Delivery(message_id, "schedule"))
            for at, message_id in [entry for entry in self.inflight if entry[0] <= moment]:
                self.inflight.remove((at, message_id))
                self.transport.queue.append(Delivery(message_id, "redelivery"))
            if self.next_sweep <= moment:
                # The model's dispatcher is instant: it has taken what this moment brought before
                # the sweeper looks, so the queue holds no backlog a message could be waiting in.
                self._drain()
                self._sweep()
                self.next_sweep += SWEEP_EVERY
            self._drain()
        self.clock.set(target)

    def _send(self, to: str, lost: bool, delay: int | None, valid_for: int | None) -> None:
        now = self.clock.now
        body: dict[str, Any] = {"from": "+15555550100", "to": to, "text": "Your code is 123456"}
        scheduled = now + timedelta(seconds=delay) if delay is not None else None
        if scheduled is not None:
            body["scheduled_at"] = to_iso(scheduled)
        if valid_for is not None:
            body["valid_until"] = to_iso((scheduled or now) + timedelta(seconds=valid_for))
        command = to_command(body, mode=Mode.TEST, now=now)
        self.transport.fail = lost
        try:
            message = accept_message(
                command, CALLER, repository=self.repository, triggers=self.transport, now=now
            )
        finally:
            self.transport.fail = False
        self.tracked[message.id] = Tracked(
            due=message.due_at, waiting_since=message.due_at, valid_until=message.valid_until
        )

    # -- rules -------------------------------------------------------------------------------------

    @rule(to=NUMBERS, lost=st.booleans(), valid_for=st.none() | st.integers(1, 240))
    def send_now(self, to: str, lost: bool, valid_for: int | None) -> None:
        self._send(to, lost, None, valid_for)

    @rule(
        to=NUMBERS, lost=st.booleans(), delay=st.integers(60, 600), valid_for=st.none() | st.integers(1, 240)
    )
    def send_later(self, to: str, lost: bool, delay: int, valid_for: int | None) -> None:
        self._send(to, lost, delay, valid_for)

    def _cancel(self, message_id: str) -> None:
        try:
            cancel_message(
                CALLER, message_id, repository=self.repository, schedules=self.transport, now=self.clock.now
            )
        except MessageNotCancelable:
            _note("cancel: refused")
        else:
            _note("cancel: canceled")

    @precondition(lambda self: bool(self.tracked))
    @rule(pick=PICK)
    def cancel(self, pick: int) -> None:
        ids = list(self.tracked)
        self._cancel(ids[pick % len(ids)])

    @precondition(lambda self: bool(self.transport.queue))
    @rule(pick=PICK)
    def cancel_while_sending(self, pick: int) -> None:
        """A cancel that lands while the carrier holds the message, before the dispatcher records it."""
        self.carrier.meanwhile = self._cancel
        try:
            self._dispatch(self.transport.queue.pop(pick % len(self.transport.queue)).message_id)
        finally:
            self.carrier.meanwhile = None

    @precondition(lambda self: bool(self.transport.queue))
    @rule(pick=PICK)
    def dispatch(self, pick: int) -> None:
        """The queue delivers one of its records (SQS standard queues keep no order)."""
        self._dispatch(self.transport.queue.pop(pick % len(self.transport.queue)).message_id)

    @precondition(lambda self: bool(self.transport.queue))
    @rule(pick=PICK, when=st.sampled_from(["before", "after"]))
    def dispatcher_dies(self, pick: int, when: str) -> None:
        self._dispatch(self.transport.queue.pop(pick % len(self.transport.queue)).message_id, die=when)

    @precondition(lambda self: bool(self.history))
    @rule(pick=PICK)
    def duplicate_delivery(self, pick: int) -> None:
        """A record delivered again (SQS at least once; a schedule that fires twice)."""
        self._dispatch(self.history[pick % len(self.history)])

    @precondition(lambda self: any(delivery.origin == "send" for delivery in self.transport.queue))
    @rule(pick=PICK)
    def lose_enqueue(self, pick: int) -> None:
        sent = [delivery for delivery in self.transport.queue if delivery.origin == "send"]
        self.transport.queue.remove(sent[pick % len(sent)])

    @precondition(lambda self: bool(self.transport.schedules))
    @rule(pick=PICK)
    def lose_schedule(self, pick: int) -> None:
        ids = sorted(self.transport.schedules)
        del self.transport.schedules[ids[pick % len(ids)]]

    @rule()
    def extra_sweep(self) -> None:
        self._sweep()

    @rule(seconds=st.integers(1, 240))
    def advance(self, seconds: int) -> None:
        self._run_until(self.clock.now + timedelta(seconds=seconds))

    @precondition(
        lambda self: any(t.valid_until and t.valid_until >= self.clock.now for t in self.tracked.values())
    )
    @rule(pick=PICK)
    def expire(self, pick: int) -> None:
        """Move time to just past one message's valid_until."""
        ahead = sorted(
            t.valid_until for t in self.tracked.values() if t.valid_until and t.valid_until >= self.clock.now
        )
        self._run_until(ahead[pick % len(ahead)] + timedelta(milliseconds=1))

    # -- invariants ----------------------------------------------------------------------------------

    def _messages(self) -> list[Message]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "org_id = :org",
            "ExpressionAttributeValues": {":org": {"S": ORG}},
            "ConsistentRead": True,
        }
        messages: list[Message] = []
        while True:
            response = self.client.query(**request)
            messages.extend(from_item(item) for item in response["Items"])
            if "LastEvaluatedKey" not in response:
                return messages
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    @invariant()
    def guarantees_hold(self) -> None:
        now = self.clock.now
        messages = self._messages()
        assert {message.id for message in messages} == set(self.tracked)
        for message in messages:
            tracked = self.tracked[message.id]
            accepted = self.carrier.sandbox.times_accepted(message.id)
            handed = self.carrier.handed.get(message.id, [])
            status = message.status

            # Statuses move only along the status machine
            assert status in REACHABLE[tracked.statuses[-1]], (tracked.statuses, status)
            if status is not tracked.statuses[-1]:
                tracked.statuses.append(status)

            # 1. A canceled message was never taken by the carrier, nor handed to it after the cancel
            # (an earlier hand-over that the carrier refused as retryable, before the cancel, sent nothing)
            if status is Status.CANCELED:
                assert accepted == 0, message.id
                assert message.canceled_at is not None
                assert all(moment <= message.canceled_at for moment in handed), (message.id, handed)
            # Nothing is handed to the carrier before its time
            assert all(moment >= tracked.due for moment in handed), (message.id, tracked.due, handed)
            # 2. At most once
            assert accepted <= 1, (message.id, accepted)
            # 3. An accepted message is sent, delivered or failed
            if accepted:
                assert status in {Status.SENT, Status.DELIVERED, Status.FAILED} or (
                    status is Status.SENDING and tracked.died_after_accept
                ), (message.id, status)
            if status in {Status.SENT, Status.DELIVERED}:
                assert accepted == 1
                assert message.sent_at is not None
                assert message.valid_until is None or message.sent_at < message.valid_until
            if status is Status.EXPIRED:
                assert accepted == 0
                assert message.valid_until is not None
                assert message.completed_at is not None
                assert message.valid_until <= message.completed_at
            # 4. Nothing accepted is lost
            first_claim_after = [moment for moment in handed if moment >= tracked.waiting_since]
            if status is Status.QUEUED:
                assert now < tracked.waiting_since + PROMISE, (message.id, tracked, now)
            if first_claim_after:
                assert first_claim_after[0] < tracked.waiting_since + PROMISE, (message.id, tracked, handed)
            if status is Status.SENDING:
                assert handed, message.id
                assert now < handed[-1] + LEASE + SWEEP_EVERY, (message.id, handed, now)
            if now >= tracked.due + PROMISE + SWEEP_EVERY:
                assert status in TERMINAL or status is Status.SENT or handed, (message.id, status, now)
            # 5. Billing: nothing is charged unless it was sent
            if status in {Status.SENT, Status.DELIVERED}:
                assert message.cost.amount == SMS_PRICE * message.parts
            else:
                assert message.cost.amount == 0, (message.id, status, message.cost)


STATEFUL_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _note(what: str) -> None:
    event(what)
    SEEN[what] += 1


def test_stateful(world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    holder: dict[str, FakeClock] = {"clock": FakeClock(START)}
    monkeypatch.setattr(clock, "utc_now", lambda: holder["clock"].now)
    SEEN.clear()

    class OnThisWorld(Pipeline):
        def __init__(self) -> None:
            super().__init__(world, holder)

    run_state_machine_as_test(OnThisWorld, settings=STATEFUL_SETTINGS)
    with capsys.disabled():
        print("\nstateful pipeline, what the examples did:", dict(sorted(SEEN.items())))
