"""Reporting periods: `2026`, `2026-Q4`, `2026-11`, `2026-W47`, ISO dates and datetimes
(pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tocsin.errors import InvalidInput

EXAMPLES = ["2026-11-22", "2026-11-22T09:00:00Z", "2026-11", "2026-Q4", "2026-W47", "2026"]
ACCEPTED = ", ".join(EXAMPLES[:-1]) + f" or {EXAMPLES[-1]}"
DEFAULT_SPAN = timedelta(days=30)
LONGEST = timedelta(days=3660)  # ten years: the charts' months stay a readable few hundred

_YEAR = re.compile(r"^(\d{4})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)


class BadPeriod(InvalidInput):
    """A period or instant that is none of the accepted forms."""

    def __init__(self, value: str, *, field: str = "period") -> None:
        super().__init__(
            f"{field}: {value!r} is not a date, datetime or period; use e.g. {ACCEPTED}",
            field=field,
            allowed=EXAMPLES,
        )
        self.value = value


@dataclass(frozen=True)
class Period:
    """A half-open span [start, end) in UTC, with the name people call it by."""

    start: datetime
    end: datetime
    name: str
    kind: str  # quarter | month | week | day | span

    @property
    def bucket(self) -> str:
        """How its charts are split: a week's by day, a month's and a quarter's by week,
        anything longer by month."""
        length = self.end - self.start
        if length <= timedelta(days=8):
            return "day"
        return "week" if length <= timedelta(days=120) else "month"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def named(value: str) -> Period | None:
    """The quarter, month, ISO week or day `value` names, or None if it names none (or one
    beyond the calendar, like 9999-Q4, whose end is in year 10000)."""
    try:
        return _named(value.strip())
    except (ValueError, OverflowError):
        return None


def _named(text: str) -> Period | None:
    if match := _YEAR.match(text):
        year = int(match[1])
        return Period(_midnight(date(year, 1, 1)), _midnight(date(year + 1, 1, 1)), text, "year")
    if match := _QUARTER.match(text):
        year, quarter = int(match[1]), int(match[2])
        start = date(year, 3 * quarter - 2, 1)
        end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
        return Period(_midnight(start), _midnight(end), f"{year}-Q{quarter}", "quarter")
    if (match := _MONTH.match(text)) and 1 <= int(match[2]) <= 12:
        year, month = int(match[1]), int(match[2])
        end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return Period(_midnight(date(year, month, 1)), _midnight(end), text, "month")
    if match := _WEEK.match(text):
        return _week(int(match[1]), int(match[2]), text)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return Period(_midnight(day), _midnight(day + timedelta(days=1)), text, "day")


def _week(year: int, week: int, text: str) -> Period | None:
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        return None
    start = _midnight(monday)
    return Period(start, start + timedelta(days=7), text.upper(), "week")


def instant(value: str, *, end: bool = False, field: str = "from") -> datetime:
    """`value` as an instant: a datetime as given (UTC if it has no zone); a date or period
    as its start, or as its end when `end` (so `to=2026-Q4` means to the end of Q4)."""
    period = named(value)
    if period is not None:
        return period.end if end else period.start
    try:
        parsed = datetime.fromisoformat(value.strip())
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadPeriod(value, field=field) from None


def parse(value: str, *, field: str = "period") -> Period:
    """A named period (`2026-Q4`, `2026-11`, `2026-W47`, `2026-11-22`)."""
    period = named(value)
    if period is None:
        raise BadPeriod(value, field=field)
    return period


def window(*, start: str | None, end: str | None, period: str | None, now: datetime) -> Period:
    """The period a request names: `period`, or `from`/`to` (each a date, datetime or
    period; `to` defaults to now and `from` to 30 days before `to`)."""
    if period:
        return parse(period)
    if start and not end and (whole := named(start)) is not None:
        return whole  # from=2026-Q4 alone means the quarter
    until = instant(end, end=True, field="to") if end else now
    since = instant(start, field="from") if start else _before(until)
    if since >= until:
        raise InvalidInput(
            f"to: {until.isoformat()} is not after from ({since.isoformat()})", field="to"
        )
    if until - since > LONGEST or until.year >= 9999:
        raise InvalidInput(
            f"to: a report covers at most 10 years ({since.date()} to {until.date()} is longer)",
            field="to",
        )
    return span(since, until)


def _before(until: datetime) -> datetime:
    try:
        return until - DEFAULT_SPAN
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def span(start: datetime, end: datetime) -> Period:
    """An arbitrary [start, end), named by its bounds."""
    name = f"{start.isoformat()} to {end.isoformat()}"
    return Period(start, end, name, "span")


def buckets(period: Period) -> list[tuple[datetime, datetime]]:
    """The chart buckets covering the period: days, ISO weeks (from their Monday) or months."""
    kind, edges = period.bucket, []
    cursor = bucket_start(period.start, kind)
    while cursor < period.end:
        following = _next(cursor, kind)
        edges.append((max(cursor, period.start), min(following, period.end)))
        cursor = following
    return edges


def bucket_start(at: datetime, kind: str) -> datetime:
    day = at.astimezone(UTC).date()
    if kind == "week":
        day -= timedelta(days=day.weekday())
    elif kind == "month":
        day = day.replace(day=1)
    return _midnight(day)


def _next(at: datetime, kind: str) -> datetime:
    if kind == "day":
        return at + timedelta(days=1)
    if kind == "week":
        return at + timedelta(days=7)
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    return at.replace(year=year, month=month)
