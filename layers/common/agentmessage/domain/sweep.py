"""The sweeper: nothing accepted is lost, nothing waits forever.

Every minute it reads the sparse due index (only ``queued`` and ``sending`` messages are in it),
page by page and with a bound, never scanning the table, and:
- re-enqueues ``queued`` messages whose time passed more than ``SWEEP_GRACE`` (45 s) ago (a lost
  enqueue or a lost schedule), then looks at them again a minute later. With a sweep every
  minute, a lost message is on the queue again at most 105 s after its time, which leaves room
  for the queue and the dispatcher inside the two-minute promise. A message whose enqueue is known
  to have succeeded is left waiting while the queue holds a backlog it may still be in (up to
  ``MAX_QUEUE_WAIT``), so a backlog does not grow duplicates of itself;
- expires ``queued`` messages past ``valid_until``;
- fails messages stuck in ``sending`` past their lease: the carrier may have them, so they are
  never sent again (at most once).

Each step (a page read, a batch enqueue, a write) starts only with the time it needs left
(``time_left``, against ``step_reserve``), so the sweep stops cleanly before its timeout; what it
did not reach is still due at the next sweep.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from agentmessage.domain.errors import AgentMessageError
from agentmessage.domain.message import MessageError
from agentmessage.domain.ports import DueEntry, MessageRepository, Requeue, Transition
from agentmessage.domain.status import Status
from agentmessage.observability import MetricUnit, logger, metrics

REQUEUE_INTERVAL = timedelta(seconds=60)
# How long a message known to be on the queue may wait there, behind a backlog, before it is
# offered again: long past any backlog the dispatcher drains, and past a record's last redelivery
# (five receives of the queue's six-minute visibility timeout) before the dead-letter queue.
MAX_QUEUE_WAIT = timedelta(minutes=30)
_BATCH = 10
LEASE_EXPIRED = MessageError(
    code="SEND_OUTCOME_UNKNOWN", detail="the send did not finish within its lease; not retried"
)


def _unlimited() -> float:
    return math.inf


@dataclass
class SweepReport:
    pages: int = 0
    requeued: int = 0
    waiting: int = 0  # known to be on the queue, behind a backlog: left to wait
    expired: int = 0
    failed: int = 0
    errors: int = 0  # AWS calls that failed; what they were for is retried next minute
    truncated_shards: list[int] = field(default_factory=list)
    out_of_time: bool = False  # stopped before its timeout; the rest is due next minute


class _OutOfTime(Exception):
    pass


@dataclass
class _Sweep:
    repository: MessageRepository
    requeue: Requeue
    now: datetime
    time_left: Callable[[], float]
    step_reserve: float
    report: SweepReport = field(default_factory=SweepReport)
    backlog: int | None = None  # read once, when first needed

    def step(self) -> None:
        if self.time_left() < self.step_reserve:
            raise _OutOfTime

    def won(self, change: Callable[[], Transition]) -> bool:
        self.step()
        try:
            return change().won
        except (AgentMessageError, ValueError):  # unavailable, or an item that no longer reads
            self.report.errors += 1
            return False

    def may_be_waiting(self, entry: DueEntry) -> bool:
        """Whether an enqueue of ``entry`` is known to have succeeded, and the queue holds a
        backlog it may still be in."""
        if entry.enqueued_at is None or self.now - entry.enqueued_at >= MAX_QUEUE_WAIT:
            return False
        if self.backlog is None:
            self.step()
            try:
                # What this sweep requeued itself is no sign that an older enqueue still waits.
                self.backlog = max(0, self.requeue.backlog() - self.report.requeued)
            except AgentMessageError:
                self.report.errors += 1
                self.backlog = 0  # unknown: offer it again, the claim keeps that safe
        return self.backlog > 0


def sweep(
    *,
    repository: MessageRepository,
    requeue: Requeue,
    now: datetime,
    shards: int,
    page_size: int,
    max_pages: int,
    time_left: Callable[[], float] = _unlimited,
    step_reserve: float = 0.0,
) -> SweepReport:
    """One pass over every shard of the due index. A failing call costs only what it was for:
    the rest of the sweep goes on, and what was missed is still due next minute."""
    run = _Sweep(repository, requeue, now, time_left, step_reserve)
    report = run.report
    try:
        for shard in range(shards):
            token = None
            for _ in range(max_pages):
                run.step()
                try:
                    page = repository.due(shard, now, page_size, token)
                except AgentMessageError:
                    report.errors += 1
                    break  # the rest of this shard waits a minute; the other shards go on
                report.pages += 1
                report.errors += page.unreadable
                _act(page.entries, run)
                token = page.next_token
                if not token:
                    break
            else:
                report.truncated_shards.append(shard)
    except _OutOfTime:
        report.out_of_time = True
    _publish(report)
    return report


def _publish(report: SweepReport) -> None:
    if report.expired:
        metrics.add_metric(name="MessagesExpired", unit=MetricUnit.Count, value=report.expired)
    if report.failed:
        metrics.add_metric(name="MessagesFailed", unit=MetricUnit.Count, value=report.failed)
    if report.errors:
        metrics.add_metric(name="SweepErrors", unit=MetricUnit.Count, value=report.errors)
    if report.out_of_time:
        metrics.add_metric(name="SweepOutOfTime", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="MessagesRequeued", unit=MetricUnit.Count, value=report.requeued)
    log = logger.warning if report.errors or report.out_of_time else logger.info
    log("sweep done", extra={"report": report.__dict__})


def _act(entries: list[DueEntry], run: _Sweep) -> None:
    repository, now, report = run.repository, run.now, run.report
    to_requeue: list[DueEntry] = []
    for entry in entries:
        if entry.status is Status.QUEUED:
            if entry.valid_until is not None and entry.valid_until <= now:
                report.expired += run.won(partial(repository.expire, entry.org_id, entry.id, now))
            elif run.may_be_waiting(entry):
                later = now + REQUEUE_INTERVAL
                report.waiting += run.won(partial(repository.postpone, entry.org_id, entry.id, due_at=later))
            else:
                to_requeue.append(entry)
        elif entry.status is Status.SENDING:
            stuck = partial(
                repository.record_failed,
                entry.org_id,
                entry.id,
                now=now,
                errors=[LEASE_EXPIRED],
                lease_expired=True,
            )
            report.failed += run.won(stuck)
    for start in range(0, len(to_requeue), _BATCH):
        batch = [(entry.org_id, entry.id) for entry in to_requeue[start : start + _BATCH]]
        run.step()
        try:
            taken = run.requeue.enqueue_many(batch)
        except AgentMessageError:
            report.errors += 1
            continue  # still due: the next sweep offers them again
        report.requeued += len(taken)
        # Only what the queue took waits another interval, known to be on the queue; a refused
        # entry stays due.
        for org_id, message_id in taken:
            run.won(
                partial(
                    repository.postpone, org_id, message_id, due_at=now + REQUEUE_INTERVAL, enqueued_at=now
                )
            )
