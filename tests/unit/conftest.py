"""Unit tier: pure logic, with the network disabled and the functions' clock stopped at ``START``."""

from collections.abc import Iterator

import pytest
from pytest_socket import disable_socket, enable_socket

from agentmessage.domain import clock
from tests.support.fakes import START


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    disable_socket()
    yield
    enable_socket()


@pytest.fixture(autouse=True)
def _stopped_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "utc_now", lambda: START)
