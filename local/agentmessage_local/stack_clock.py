"""The local stack's clock: real time plus an offset that only moves forward (time travel).

The gateway's authorizer cache, the schedule poller and every function worker read it, so
advancing it makes a scheduled message due, and its schedule fire, without waiting.
"""

import threading
from datetime import UTC, datetime, timedelta


class StackClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0

    @property
    def offset_seconds(self) -> float:
        with self._lock:
            return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset_seconds)

    def timestamp(self) -> float:
        """Seconds since the epoch, on this clock."""
        return self.now().timestamp()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
