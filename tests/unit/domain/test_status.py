"""The status machine: one table of named changes, and the edges it allows."""

import pytest

from agentmessage.domain.status import (
    CHANGES,
    LIVE,
    TERMINAL,
    TRANSITIONS,
    Change,
    Status,
    allows,
    can_transition,
)


def test_every_status_has_its_exits_listed() -> None:
    assert set(TRANSITIONS) == set(Status)
    assert all(set(nexts) <= set(Status) for nexts in TRANSITIONS.values())


def test_only_queued_is_cancelable() -> None:
    cancelable = {status for status in Status if can_transition(status, Status.CANCELED)}
    assert cancelable == {Status.QUEUED}


def test_the_terminal_states_have_no_exits() -> None:
    assert {Status.DELIVERED, Status.UNDELIVERED, Status.FAILED, Status.CANCELED, Status.EXPIRED} == TERMINAL
    for status in TERMINAL:
        assert not any(can_transition(status, target) for target in Status)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.QUEUED, Status.SENDING),
        (Status.QUEUED, Status.CANCELED),
        (Status.QUEUED, Status.EXPIRED),
        (Status.SENDING, Status.SENT),
        (Status.SENDING, Status.FAILED),
        (Status.SENT, Status.DELIVERED),
        (Status.SENT, Status.UNDELIVERED),
    ],
)
def test_the_designs_edges_are_allowed(current: Status, target: Status) -> None:
    assert can_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.QUEUED, Status.SENT),
        (Status.QUEUED, Status.DELIVERED),
        (Status.QUEUED, Status.QUEUED),
        (Status.SENDING, Status.CANCELED),
        (Status.SENDING, Status.EXPIRED),
        (Status.SENT, Status.CANCELED),
        (Status.SENT, Status.QUEUED),
        (Status.SENT, Status.FAILED),  # handed over: a carrier's refusal afterwards is undelivered
        (Status.SENDING, Status.DELIVERED),  # only a receipt says delivered, never the send itself
        (Status.DELIVERED, Status.UNDELIVERED),
        (Status.UNDELIVERED, Status.DELIVERED),
        (Status.CANCELED, Status.QUEUED),
        (Status.EXPIRED, Status.SENDING),
    ],
)
def test_other_moves_are_refused(current: Status, target: Status) -> None:
    assert not can_transition(current, target)


def test_only_queued_can_expire() -> None:
    assert {status for status in Status if can_transition(status, Status.EXPIRED)} == {Status.QUEUED}


def test_every_change_names_its_sources_and_target() -> None:
    assert set(CHANGES) == set(Change)
    for change, edge in CHANGES.items():
        assert edge.sources, change
        assert all(allows(change, source) for source in edge.sources)
        assert not any(allows(change, other) for other in set(Status) - edge.sources)


def test_the_edges_are_those_of_the_changes() -> None:
    # Given the table of changes, every edge it describes (a change that keeps a status is no edge)
    edges = {
        (source, edge.target)
        for edge in CHANGES.values()
        for source in edge.sources
        if source is not edge.target
    }
    # Then the transitions are exactly those
    assert {(status, target) for status, nexts in TRANSITIONS.items() for target in nexts} == edges


def test_live_statuses_are_those_the_sweeper_acts_on() -> None:
    assert {Status.QUEUED, Status.SENDING} == LIVE
    assert not LIVE & TERMINAL
