"""The local stack's clock: real time plus an offset that only moves forward (time travel).

The gateway's authorizer cache, the schedule poller and every function worker read it, so
advancing it makes a scheduled message due, and its schedule fire, without waiting.
"""

import math
import threading
from datetime import UTC, datetime, timedelta

# How far the clock may be moved in one step, and in all: far past any schedule (35 days ahead)
# or retention (24 h idempotency, 300 s authorizer cache), far short of datetime's year 9999.
MAX_ADVANCE_SECONDS = 366 * 24 * 3600
MAX_OFFSET_SECONDS = 10 * MAX_ADVANCE_SECONDS


def checked_advance(seconds: object) -> float:
    """``seconds`` as a step forward, or ``ValueError`` saying why not: a finite number of seconds,
    0 to ``MAX_ADVANCE_SECONDS`` (booleans, NaN and infinities are not numbers here)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError("advance_seconds must be a number")
    if isinstance(seconds, int) and abs(seconds) > MAX_ADVANCE_SECONDS:
        raise ValueError(f"advance_seconds must be 0..{MAX_ADVANCE_SECONDS}")
    value = float(seconds)
    if not math.isfinite(value):
        raise ValueError("advance_seconds must be a finite number")
    if value < 0:
        raise ValueError("the clock only moves forward")
    if value > MAX_ADVANCE_SECONDS:
        raise ValueError(f"advance_seconds must be 0..{MAX_ADVANCE_SECONDS}")
    return value


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
        """Move forward by ``seconds``; ``ValueError`` (and no change) for anything but a finite
        step of 0..``MAX_ADVANCE_SECONDS``, or one that would take the offset past
        ``MAX_OFFSET_SECONDS``: the clock must stay readable by every worker."""
        step = checked_advance(seconds)
        with self._lock:
            if self._offset + step > MAX_OFFSET_SECONDS:
                raise ValueError(f"the clock may run at most {MAX_OFFSET_SECONDS} s ahead of real time")
            self._offset += step
