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


TIME_EXAMPLE = "2026-11-22T09:12:00Z"
# pydantic's error types for a time that did not parse, or came without a zone.
_TIME_ERRORS = {
    "datetime_parsing",
    "datetime_from_date_parsing",
    "datetime_type",
    "datetime_object_invalid",
    "date_from_datetime_parsing",
}


def time_error_text(error_type: str, value: object) -> str | None:
    """Words for a time that was refused, with an example of one that is accepted; None
    when `error_type` is not about a time."""
    if error_type == "timezone_aware":
        return (
            f"{value!r} has no time zone: add Z (UTC) or an offset, "
            f"e.g. {TIME_EXAMPLE} or 2026-11-22T10:12:00+01:00"
        )
    if error_type in _TIME_ERRORS:
        return (
            f"{value!r} is not a time: give an ISO 8601 time with a time zone, e.g. {TIME_EXAMPLE}"
        )
    return None


# A time from outside (API bodies and queries): aware, and within range once made UTC.
Instant = Annotated[AwareDatetime, AfterValidator(_in_range)]
