"""The one source of the current time.

Every module asks `now()` instead of calling datetime.now() itself, so tests can move time
(time-machine patches the clock underneath this) and the engine never sleeps in tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


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


def _in_range(value: datetime) -> datetime:
    """A time given with an offset must still be a time once made UTC (9999-12-31T23:59-23:59
    is not: it falls in the year 10000), and the databases keep years 1 to 9999."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            "is outside the times Tocsin can keep once made UTC (years 1 to 9999); "
            "give an ISO 8601 time such as 2026-11-22T09:12:00Z"
        ) from None


# A time from outside (API bodies and queries): aware, and within range once made UTC.
Instant = Annotated[AwareDatetime, AfterValidator(_in_range)]
