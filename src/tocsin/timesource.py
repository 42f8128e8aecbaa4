"""The one source of the current time.

Every module asks `now()` instead of calling datetime.now() itself, so tests can move time
(time-machine patches the clock underneath this) and the engine never sleeps in tests.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current instant, timezone-aware UTC, truncated to microseconds both databases keep."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Normalise a datetime read back from a database to aware UTC.

    SQLite hands back naive datetimes even for timezone-aware columns; we only ever store UTC.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
