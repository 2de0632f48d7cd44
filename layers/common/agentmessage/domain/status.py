"""The status machine: one table of named changes, from which every write derives its condition.

Each change of a message's status is one conditional write whose condition is "the status is one
of the change's sources". The DynamoDB repository builds its condition expressions from
``CHANGES``, and the in-memory repository checks the same sets, so the table is the rule and not
only a description of it.
"""

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Status(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"
    EXPIRED = "expired"


class Change(StrEnum):
    """Every write that may change (or keep) a message's status."""

    CANCEL = "cancel"  # DELETE while queued
    CLAIM = "claim"  # the dispatcher takes a due message
    EXPIRE = "expire"  # valid_until passed before a send began
    RELEASE = "release"  # a retryable carrier refusal: back to the queue
    POSTPONE = "postpone"  # still queued, looked at again later
    RECORD_SENT = "record_sent"  # the carrier took it
    RECORD_FAILED = "record_failed"  # never handed over, or the outcome is unknown
    RECEIPT_DELIVERED = "receipt_delivered"  # a final receipt: it arrived
    RECEIPT_UNDELIVERED = "receipt_undelivered"  # a final receipt: the carrier could not deliver it
    RECEIPT_UNCONFIRMED = "receipt_unconfirmed"  # a final receipt with no outcome: still sent


@dataclass(frozen=True, slots=True)
class Edge:
    sources: frozenset[Status]
    target: Status


def _edge(sources: set[Status], target: Status) -> Edge:
    return Edge(frozenset(sources), target)


CHANGES: MappingProxyType[Change, Edge] = MappingProxyType(
    {
        Change.CANCEL: _edge({Status.QUEUED}, Status.CANCELED),
        Change.CLAIM: _edge({Status.QUEUED}, Status.SENDING),
        Change.EXPIRE: _edge({Status.QUEUED}, Status.EXPIRED),
        Change.RELEASE: _edge({Status.SENDING}, Status.QUEUED),
        Change.POSTPONE: _edge({Status.QUEUED}, Status.QUEUED),
        Change.RECORD_SENT: _edge({Status.SENDING}, Status.SENT),
        Change.RECORD_FAILED: _edge({Status.SENDING}, Status.FAILED),
        Change.RECEIPT_DELIVERED: _edge({Status.SENT}, Status.DELIVERED),
        Change.RECEIPT_UNDELIVERED: _edge({Status.SENT}, Status.UNDELIVERED),
        Change.RECEIPT_UNCONFIRMED: _edge({Status.SENT}, Status.SENT),
    }
)


def _transitions() -> dict[Status, frozenset[Status]]:
    nexts: dict[Status, set[Status]] = {status: set() for status in Status}
    for edge in CHANGES.values():
        for source in edge.sources:
            if edge.target is not source:
                nexts[source].add(edge.target)
    return {status: frozenset(targets) for status, targets in nexts.items()}


# Where each status may go next (the changes that keep a status, such as postpone, left out).
TRANSITIONS: MappingProxyType[Status, frozenset[Status]] = MappingProxyType(_transitions())

TERMINAL = frozenset(status for status, nexts in TRANSITIONS.items() if not nexts)

# Statuses the sweeper may have to act on: they carry due_at and are in the due index.
LIVE = frozenset({Status.QUEUED, Status.SENDING})


def can_transition(current: Status, target: Status) -> bool:
    return target in TRANSITIONS[current]


def allows(change: Change, current: Status) -> bool:
    """Whether ``change`` may be applied to a message whose status is ``current``."""
    return current in CHANGES[change].sources
