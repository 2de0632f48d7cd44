"""The sweeper: nothing accepted is lost, nothing waits forever.

Every minute it reads the sparse due index (only ``queued`` and ``sending`` messages are in it),
page by page and with a bound, never scanning the table, and:
- re-enqueues ``queued`` messages whose time passed more than ``SWEEP_GRACE`` (45 s) ago (a lost
  enqueue or a lost schedule), then looks at them again a minute later. With a sweep every
  minute, a lost message is on the queue again at most 105 s after its time, which leaves room
  for the queue and the dispatcher inside the two-minute promise;
- expires ``queued`` messages past ``valid_until``;
- fails messages stuck in ``sending`` past their lease: the carrier may have them, so they are
  never sent again (at most once).
"""

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
_BATCH = 10
LEASE_EXPIRED = MessageError(
    code="SEND_OUTCOME_UNKNOWN", detail="the send did not finish within its lease; not retried"
)


@dataclass
class SweepReport:
    pages: int = 0
    requeued: int = 0
    expired: int = 0
    failed: int = 0
    errors: int = 0  # AWS calls that failed; what they were for is retried next minute
    truncated_shards: list[int] = field(default_factory=list)


def sweep(
    *,
    repository: MessageRepository,
    requeue: Requeue,
    now: datetime,
    shards: int,
    page_size: int,
    max_pages: int,
) -> SweepReport:
    """One pass over every shard of the due index. A failing call costs only what it was for:
    the rest of the sweep goes on, and what was missed is still due next minute."""
    report = SweepReport()
    for shard in range(shards):
        token = None
        for _ in range(max_pages):
            try:
                page = repository.due(shard, now, page_size, token)
            except AgentMessageError:
                report.errors += 1
                break  # the rest of this shard waits a minute; the other shards go on
            report.pages += 1
            report.errors += page.unreadable
            _act(page.entries, repository, requeue, now, report)
            token = page.next_token
            if not token:
                break
        else:
            report.truncated_shards.append(shard)
    if report.expired:
        metrics.add_metric(name="MessagesExpired", unit=MetricUnit.Count, value=report.expired)
    if report.failed:
        metrics.add_metric(name="MessagesFailed", unit=MetricUnit.Count, value=report.failed)
    if report.errors:
        metrics.add_metric(name="SweepErrors", unit=MetricUnit.Count, value=report.errors)
    metrics.add_metric(name="MessagesRequeued", unit=MetricUnit.Count, value=report.requeued)
    log = logger.warning if report.errors else logger.info
    log("sweep done", extra={"report": report.__dict__})
    return report


def _won(change: Callable[[], Transition], report: SweepReport) -> bool:
    try:
        return change().won
    except (AgentMessageError, ValueError):  # unavailable, or an item that no longer reads
        report.errors += 1
        return False


def _act(
    entries: list[DueEntry],
    repository: MessageRepository,
    requeue: Requeue,
    now: datetime,
    report: SweepReport,
) -> None:
    to_requeue: list[DueEntry] = []
    for entry in entries:
        if entry.status is Status.QUEUED:
            if entry.valid_until is not None and entry.valid_until <= now:
                report.expired += _won(partial(repository.expire, entry.org_id, entry.id, now), report)
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
            report.failed += _won(stuck, report)
    for start in range(0, len(to_requeue), _BATCH):
        batch = [(entry.org_id, entry.id) for entry in to_requeue[start : start + _BATCH]]
        try:
            taken = requeue.enqueue_many(batch)
        except AgentMessageError:
            report.errors += 1
            continue  # still due: the next sweep offers them again
        report.requeued += len(taken)
        # Only what the queue took waits another interval; a refused entry stays due.
        for org_id, message_id in taken:
            _won(partial(repository.postpone, org_id, message_id, due_at=now + REQUEUE_INTERVAL), report)
