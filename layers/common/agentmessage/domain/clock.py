"""The one source of 'now' and the one timestamp format (ISO 8601, UTC, milliseconds, ``Z``).

Every module reads the time through ``clock.utc_now()`` so that tests and the local stack can
move time without touching the system clock. Stored timestamps share one fixed-width format,
so they sort as strings (the due index relies on it).
"""

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    """``2026-05-02T15:00:00.000Z``: fixed width, so string order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("timestamp has no timezone")
    return moment.astimezone(UTC)
