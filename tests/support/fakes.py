"""In-memory stand-ins for the domain's collaborators: storage, triggers, carriers and the clock.

``InMemoryMessageRepository`` has the semantics of ``DynamoMessageRepository``: every method is
one atomic step (under one lock) whose condition on the status comes from the same status machine
(``domain.status.CHANGES``) as the DynamoDB condition expressions, a lost condition returns the
message as it was (``ALL_OLD``), and the sparse due index holds exactly the ``queued`` and
``sending`` messages, ordered by ``due_at`` and read page by page with a ``Limit`` and a
``LastEvaluatedKey``-style token. ``tests/contract`` runs one suite against both.
"""

import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from agentmessage.carriers.base import CarrierError, OutboundMessage, SendResult, TimeLeft, no_time_limit
from agentmessage.domain.commands import Once
from agentmessage.domain.errors import RequestKeyReused, Unavailable
from agentmessage.domain.message import Cost, Message, MessageError
from agentmessage.domain.ports import DueEntry, DuePage, Transition
from agentmessage.domain.status import CHANGES, LIVE, Change, Status, allows

START = datetime(2026, 11, 22, 6, 0, 0, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when told to; call it for 'now'."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def set(self, moment: datetime) -> datetime:
        self.now = moment
        return self.now


@dataclass
class _Row:
    message: Message
    due_shard: str | None
    due_at: datetime | None
    claim_token: str | None = None
    enqueued_at: datetime | None = None


@dataclass(frozen=True)
class _OnceRecord:
    org_id: str
    fingerprint: str
    message: Message


class InMemoryMessageRepository:
    """``MessageRepository`` in memory, with DynamoDB's conditional-write semantics."""

    def __init__(self, due_shards: int = 4) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], _Row] = {}
        self._due_shards = due_shards
        self.calls: list[str] = []  # method names, in call order
        self.before: dict[str, Callable[[], object]] = {}  # hooks run before a method, outside the lock
        # Writes still to be sent twice, the first answer lost, as botocore resends a timed-out call.
        self.replays = 0
        self._once: dict[str, _OnceRecord] = {}  # request keys' records, by digest

    # -- helpers -------------------------------------------------------------------------------

    def due_shard(self, message_id: str) -> str:
        return str(zlib.crc32(message_id.encode()) % self._due_shards)

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        hook = self.before.get(name)
        if hook is not None:
            hook()

    def _change(
        self,
        org_id: str,
        message_id: str,
        condition: Callable[[_Row], bool],
        update: Callable[[_Row], None],
        already_done: Callable[[_Row], bool] | None = None,
    ) -> Transition:
        with self._lock:
            row = self._rows.get((org_id, message_id))
            if row is None or not condition(row):
                return Transition(won=False, message=row.message if row else None)
            self._apply(row, update)
            if self.replays:
                # The answer was lost and the same write sent again: it meets the item it changed.
                self.replays -= 1
                if condition(row):
                    self._apply(row, update)
                elif already_done is None or not already_done(row):
                    return Transition(won=False, message=row.message)
            return Transition(won=True, message=row.message)

    @staticmethod
    def _apply(row: _Row, update: Callable[[_Row], None]) -> None:
        update(row)
        if row.message.status not in LIVE:
            row.due_shard = None
            row.due_at = None

    @staticmethod
    def _set(row: _Row, **changes: Any) -> None:
        row.message = replace(row.message, **changes)

    # -- test helpers ----------------------------------------------------------------------------

    def put(self, message: Message, due_at: datetime | None = None) -> None:
        """Store a message in any status (no condition), as a test's 'given'."""
        with self._lock:
            live = message.status in LIVE
            self._rows[(message.org_id, message.id)] = _Row(
                message=message,
                due_shard=self.due_shard(message.id) if live else None,
                due_at=(due_at or message.due_at) if live else None,
            )

    def peek(self, org_id: str, message_id: str) -> Message | None:
        """The stored message, without counting as a call."""
        with self._lock:
            row = self._rows.get((org_id, message_id))
            return row.message if row else None

    def due_at(self, org_id: str, message_id: str) -> datetime | None:
        with self._lock:
            return self._rows[(org_id, message_id)].due_at

    def all(self) -> list[Message]:
        with self._lock:
            return [row.message for row in self._rows.values()]

    # -- MessageRepository -----------------------------------------------------------------------

    def create(self, message: Message, due_at: datetime, once: Once | None = None) -> Message:
        self._enter("create")
        with self._lock:
            if once is not None:
                earlier = self._once.get(once.digest)
                if earlier is not None:
                    return self._answer_for(earlier, once)
                self._once[once.digest] = _OnceRecord(message.org_id, once.fingerprint, message)
            if (message.org_id, message.id) not in self._rows:  # else: this very create, resent
                self._rows[(message.org_id, message.id)] = _Row(message, self.due_shard(message.id), due_at)
            return message

    @staticmethod
    def _answer_for(record: _OnceRecord, once: Once) -> Message:
        if record.fingerprint != once.fingerprint:
            raise RequestKeyReused()
        return record.message

    def created_once(self, org_id: str, once: Once) -> Message | None:
        self._enter("created_once")
        with self._lock:
            record = self._once.get(once.digest)
            if record is None or record.org_id != org_id:
                return None
            return self._answer_for(record, once)

    def get(self, org_id: str, message_id: str) -> Message | None:
        self._enter("get")
        with self._lock:
            row = self._rows.get((org_id, message_id))
            return row.message if row else None

    def cancel(self, org_id: str, message_id: str, now: datetime) -> Transition:
        self._enter("cancel")
        return self._change(
            org_id,
            message_id,
            lambda row: allows(Change.CANCEL, row.message.status),
            lambda row: self._set(row, status=Status.CANCELED, canceled_at=now, completed_at=now),
        )

    def claim(self, org_id: str, message_id: str, now: datetime, lease_until: datetime) -> Transition:
        self._enter("claim")
        token = object()  # names this claim, as the DynamoDB claim's token does

        def condition(row: _Row) -> bool:
            message = row.message
            return (
                allows(Change.CLAIM, message.status)
                and (message.valid_until is None or message.valid_until > now)
                and (message.scheduled_at is None or message.scheduled_at <= now)
            )

        def update(row: _Row) -> None:
            self._set(row, status=Status.SENDING, attempts=row.message.attempts + 1)
            row.due_at = lease_until
            row.claim_token = str(id(token))

        def claimed_by_this(row: _Row) -> bool:
            return row.message.status is Status.SENDING and row.claim_token == str(id(token))

        return self._change(org_id, message_id, condition, update, claimed_by_this)

    def expire(self, org_id: str, message_id: str, now: datetime) -> Transition:
        self._enter("expire")
        return self._change(
            org_id,
            message_id,
            lambda row: (
                allows(Change.EXPIRE, row.message.status)
                and row.message.valid_until is not None
                and row.message.valid_until <= now
            ),
            lambda row: self._set(row, status=Status.EXPIRED, completed_at=now),
        )

    def release(self, org_id: str, message_id: str, due_at: datetime) -> Transition:
        self._enter("release")

        def update(row: _Row) -> None:
            self._set(row, status=Status.QUEUED)
            row.due_at = due_at
            row.enqueued_at = None

        return self._change(
            org_id,
            message_id,
            lambda row: allows(Change.RELEASE, row.message.status),
            update,
            lambda row: row.message.status is Status.QUEUED and row.due_at == due_at,
        )

    def record_sent(
        self,
        org_id: str,
        message_id: str,
        *,
        now: datetime,
        provider_message_id: str,
        carrier: str,
        cost: Decimal,
    ) -> Transition:
        self._enter("record_sent")
        changes: dict[str, Any] = {
            "status": Status.SENT,
            "sent_at": now,
            "provider_message_id": provider_message_id,
            "carrier": carrier,
            "cost": Cost(amount=Decimal(f"{cost:.4f}")),  # stored as a 4-place string
        }
        return self._change(
            org_id,
            message_id,
            lambda row: allows(Change.RECORD_SENT, row.message.status),
            lambda row: self._set(row, **changes),
            lambda row: row.message.provider_message_id == provider_message_id,
        )

    def record_receipt(
        self,
        org_id: str,
        message_id: str,
        change: Change,
        *,
        provider_message_id: str,
        at: datetime,
        error: MessageError | None,
    ) -> Transition:
        self._enter("record_receipt")
        target = CHANGES[change].target

        def condition(row: _Row) -> bool:
            if (
                not allows(change, row.message.status)
                or row.message.provider_message_id != provider_message_id
            ):
                return False
            return change is not Change.RECEIPT_UNCONFIRMED or row.message.completed_at is None

        return self._change(
            org_id,
            message_id,
            condition,
            lambda row: self._set(
                row, status=target, completed_at=at, errors=(error,) if error is not None else ()
            ),
            lambda row: row.message.status is target and row.message.completed_at == at,
        )

    def record_failed(
        self,
        org_id: str,
        message_id: str,
        *,
        now: datetime,
        errors: list[MessageError],
        lease_expired: bool = False,
    ) -> Transition:
        self._enter("record_failed")

        def condition(row: _Row) -> bool:
            if not allows(Change.RECORD_FAILED, row.message.status):
                return False
            return not lease_expired or (row.due_at is not None and row.due_at <= now)

        return self._change(
            org_id,
            message_id,
            condition,
            lambda row: self._set(row, status=Status.FAILED, completed_at=now, errors=tuple(errors)),
            lambda row: row.message.status is Status.FAILED and row.message.completed_at == now,
        )

    def postpone(
        self, org_id: str, message_id: str, due_at: datetime, enqueued_at: datetime | None = None
    ) -> Transition:
        self._enter("postpone")

        def update(row: _Row) -> None:
            row.due_at = due_at
            if enqueued_at is not None:
                row.enqueued_at = enqueued_at

        return self._change(
            org_id, message_id, lambda row: allows(Change.POSTPONE, row.message.status), update
        )

    def due(self, shard: int, now: datetime, limit: int, token: dict[str, Any] | None) -> DuePage:
        self._enter("due")
        with self._lock:
            rows = sorted(
                (
                    (row.due_at, org_id, message_id, row)
                    for (org_id, message_id), row in self._rows.items()
                    if row.due_shard == str(shard) and row.due_at is not None and row.due_at <= now
                ),
                key=lambda entry: entry[:3],
            )
            if token is not None:
                after = (token["due_at"], token["org_id"], token["id"])
                rows = [entry for entry in rows if entry[:3] > after]
            page = rows[:limit]
            entries = [
                DueEntry(
                    org_id=org_id,
                    id=message_id,
                    status=row.message.status,
                    due_at=due_at,
                    valid_until=row.message.valid_until,
                    enqueued_at=row.enqueued_at,
                )
                for due_at, org_id, message_id, row in page
            ]
        # Like DynamoDB: a full page carries a token even when nothing follows it.
        next_token = None
        if len(page) == limit:
            last_due, last_org, last_id, _ = page[-1]
            next_token = {"due_at": last_due, "org_id": last_org, "id": last_id}
        return DuePage(entries=entries, next_token=next_token)


@dataclass
class FakeTriggers:
    """The dispatch queue, the scheduler and the schedule remover, in memory.

    ``lose``: every enqueue or schedule is accepted and silently lost. ``fail``: every enqueue or
    schedule raises ``Unavailable``. ``capacity``: ``enqueue_many`` takes at most this many
    entries per call (the rest are refused, as SQS reports failed batch entries).
    """

    lose: bool = False
    fail: bool = False
    capacity: int | None = None
    waiting: int = 0  # what backlog() answers: messages on the queue not yet received
    queue: list[tuple[str, str]] = field(default_factory=list)
    schedules: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    unscheduled: list[str] = field(default_factory=list)
    batches: list[list[tuple[str, str]]] = field(default_factory=list)

    def _deliver(self, entries: list[tuple[str, str]]) -> None:
        if self.fail:
            raise Unavailable()
        if not self.lose:
            self.queue.extend(entries)

    def enqueue(self, org_id: str, message_id: str) -> None:
        self._deliver([(org_id, message_id)])

    def schedule(self, org_id: str, message_id: str, at: datetime) -> None:
        if self.fail:
            raise Unavailable()
        if not self.lose:
            self.schedules[message_id] = (org_id, at)

    def unschedule(self, message_id: str) -> None:
        if self.fail:
            raise Unavailable()
        self.unscheduled.append(message_id)
        self.schedules.pop(message_id, None)

    def backlog(self) -> int:
        if self.fail:
            raise Unavailable()
        return self.waiting

    def enqueue_many(self, entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
        assert len(entries) <= 10, "SendMessageBatch takes at most ten entries"
        self.batches.append(list(entries))
        taken = entries if self.capacity is None else entries[: self.capacity]
        self._deliver(taken)
        return list(taken)


class ScriptedCarrier:
    """A carrier that answers from a script: one ``SendResult`` or ``CarrierError`` per call, the
    last one repeated. ``on_send`` runs first, to let a test act while a send is in flight."""

    name = "scripted"

    def __init__(
        self,
        *answers: SendResult | CarrierError,
        on_send: Callable[[OutboundMessage], None] | None = None,
    ) -> None:
        self._answers = list(answers) or [SendResult(provider_message_id="provider-1")]
        self.recorded_sends: list[OutboundMessage] = []
        self._on_send = on_send
        self.sent: list[OutboundMessage] = []
        self.time_left: list[float] = []  # what each send was told it had left

    def send(self, message: OutboundMessage, *, time_left: TimeLeft = no_time_limit) -> SendResult:
        self.time_left.append(time_left())
        self.sent.append(message)
        if self._on_send is not None:
            self._on_send(message)
        answer = self._answers[min(len(self.sent), len(self._answers)) - 1]
        if isinstance(answer, CarrierError):
            raise answer
        return answer

    def recorded(self, message: OutboundMessage, result: SendResult) -> None:
        self.recorded_sends.append(message)
