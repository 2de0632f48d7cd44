"""The sweeper: nothing accepted is lost, nothing waits forever.

Every minute it reads the sparse due index (only ``queued`` and ``sending`` messages are in it),
page by page and with a bound, never scanning the table, and:
- re-enqueues ``queued`` messages whose time passed more than a minute ago (a lost enqueue or a
  lost schedule), then looks at them again a minute later;
- expires ``queued`` messages past ``valid_until``;
- fails messages stuck in ``sending`` past their lease: the carrier may have them, so they are
  never sent again (at most once).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from agentmessage.model import MessageError, Status
from agentmessage.observability import MetricUnit, logger, metrics
from agentmessage.repository import DueEntry, MessageRepository
from agentmessage.triggers import Requeue

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
    report = SweepReport()
    for shard in range(shards):
        token = None
        for _ in range(max_pages):
            page = repository.due(shard, now, page_size, token)
            report.pages += 1
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
    metrics.add_metric(name="MessagesRequeued", unit=MetricUnit.Count, value=report.requeued)
    logger.info("sweep done", extra={"report": report.__dict__})
    return report


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
                report.expired += repository.expire(entry.org_id, entry.id, now).won
            else:
                to_requeue.append(entry)
        elif entry.status is Status.SENDING:
            failed = repository.record_failed(
                entry.org_id, entry.id, now=now, errors=[LEASE_EXPIRED], from_status=Status.SENDING
            )
            report.failed += failed.won
    for start in range(0, len(to_requeue), _BATCH):
        batch = to_requeue[start : start + _BATCH]
        taken = requeue.enqueue_many([(entry.org_id, entry.id) for entry in batch])
        report.requeued += taken
        if taken < len(batch):
            # The queue refused some entries without saying which: leave the whole batch due, so the
            # next sweep offers them again (a duplicate is harmless: the claim sends once).
            continue
        for entry in batch:
            repository.postpone(entry.org_id, entry.id, due_at=now + REQUEUE_INTERVAL)
