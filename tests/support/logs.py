"""Everything the functions write while a block runs: the Powertools logger's JSON lines, anything
printed (metrics), and records of standard library loggers."""

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class CapturedLogs:
    _lines: io.StringIO
    _capsys: pytest.CaptureFixture[str]
    _caplog: pytest.LogCaptureFixture
    _printed: str = ""

    def text(self) -> str:
        self._printed += self._capsys.readouterr().out
        return self._lines.getvalue() + self._printed + self._caplog.text


@contextmanager
def captured_logs(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[CapturedLogs]:
    """Capture at DEBUG for the product's logger (stricter than the deployed INFO)."""
    # Imported here, not at collection: Powertools reads its settings (service name, metrics
    # namespace) from the environment when the logger and metrics are created.
    from agentmessage.observability import logger

    handler: Any = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous_stream = handler.setStream(buffer)
    previous_level = logger.log_level
    logger.setLevel(logging.DEBUG)
    capsys.readouterr()
    try:
        with caplog.at_level(logging.WARNING):
            yield CapturedLogs(buffer, capsys, caplog)
    finally:
        logger.setLevel(previous_level)
        handler.setStream(previous_stream)
