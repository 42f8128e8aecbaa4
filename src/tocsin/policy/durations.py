"""Durations written in a policy, and business-time arithmetic over them.

A runbook says "acknowledge within 15 minutes", "review within 5 business days" or "next
business day". `parse_duration` turns that text into a `Duration`, and `BusinessCalendar.add`
turns a start instant plus a `Duration` into the instant a clock is due.

Pure logic: no database, no I/O, no "now". Every instant going in must be timezone-aware and
every instant coming out is UTC, as everywhere else in Tocsin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import assert_never
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = [
    "BusinessCalendar",
    "Duration",
    "DurationKind",
    "InvalidDuration",
    "parse_duration",
]


class DurationKind(StrEnum):
    CALENDAR = "calendar"
    BUSINESS_HOURS = "business_hours"
    BUSINESS_DAYS = "business_days"
    IMMEDIATE = "immediate"
    NEXT_BUSINESS_DAY = "next_business_day"


@dataclass(frozen=True)
class Duration:
    """A parsed policy duration.

    `amount` is the span for CALENDAR, the business time to count for BUSINESS_HOURS,
    `timedelta(days=n)` for BUSINESS_DAYS and zero for IMMEDIATE and NEXT_BUSINESS_DAY.

    `text` is left out of equality: "72h" and "3d" are the same clock, but a policy author
    who wrote 72 hours should keep reading "72h" back rather than a unit they did not choose.
    """

    kind: DurationKind
    amount: timedelta
    text: str = field(compare=False)

    def __str__(self) -> str:
        return self.text

    def describe(self) -> str:
        """The duration in words, for pages and reminders: "4 hours", "3 business days"."""
        match self.kind:
            case DurationKind.IMMEDIATE:
                return "immediately"
            case DurationKind.NEXT_BUSINESS_DAY:
                return "next business day"
            case DurationKind.BUSINESS_HOURS:
                return _describe_business_hours(self.amount)
            case DurationKind.BUSINESS_DAYS:
                return _count(self.amount.days, "business day")
            case DurationKind.CALENDAR:
                return _describe_span(self)
            case _:
                assert_never(self.kind)


# Domain exceptions are named for what went wrong (IllegalTransition, UnknownSeverity).
class InvalidDuration(ValueError):
    """A policy value that is not one of the duration forms; the message lists the forms."""

    def __init__(self, value: object, problem: str = "is not a duration") -> None:
        self.value = value
        shown = value if isinstance(value, int | float) else f'"{value}"'
        super().__init__(f"{shown} {problem}; {_FORMS_HINT}")


_FORMS_HINT = (
    "use e.g. 15m, 4h, 3d, 1w, 4bh (business hours), 3bd (business days), immediate, "
    "next_business_day or n/a"
)

_HOUR = timedelta(hours=1)

# A policy target beyond ten years is a typo. Refusing it also keeps the business-time loops
# (one step per day) short and far from datetime's year-9999 limit.
_LONGEST_SECONDS = 3660 * 86400
_TOO_LONG = "is longer than ten years"
_BARE_NUMBER = "is a bare number, which is ambiguous (minutes? hours?)"

_NOT_APPLICABLE = frozenset({"n/a", "na", "none", "-", "null"})
_IMMEDIATE_WORDS = frozenset({"immediate", "immediately", "asap", "0"})
_NEXT_BUSINESS_DAY_WORDS = frozenset({"next business day", "next working day"})

# Calendar units, largest first (the order a compound is written back in), as
# (seconds, noun). Business units have sizes too, so the ten-year cap applies to them.
_CALENDAR_UNITS: dict[str, tuple[int, str]] = {
    "w": (7 * 86400, "week"),
    "d": (86400, "day"),
    "h": (3600, "hour"),
    "m": (60, "minute"),
    "s": (1, "second"),
}
_BUSINESS_UNITS = {"bh": DurationKind.BUSINESS_HOURS, "bd": DurationKind.BUSINESS_DAYS}
_UNIT_SECONDS = {
    **{unit: seconds for unit, (seconds, _) in _CALENDAR_UNITS.items()},
    "bh": 3600,
    "bd": 86400,
}

# Every spelling, mapped to (canonical unit, how many of that unit one of these is).
_UNIT_ALIASES: dict[str, tuple[str, int]] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), ("s", 1)),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), ("m", 1)),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), ("h", 1)),
    **dict.fromkeys(("d", "day", "days"), ("d", 1)),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), ("w", 1)),
    # Runbooks say "monthly" and "quarterly" for reviews; a fixed length keeps clocks exact.
    # A month is 30 days; a quarter is 13 weeks (91 days, a quarter of a 52-week year).
    **dict.fromkeys(("month", "months"), ("d", 30)),
    **dict.fromkeys(("quarter", "quarters"), ("w", 13)),
    **dict.fromkeys(("bh", "business hour", "business hours"), ("bh", 1)),
    **dict.fromkeys(("working hour", "working hours"), ("bh", 1)),
    **dict.fromkeys(("bd", "business day", "business days"), ("bd", 1)),
    **dict.fromkeys(("working day", "working days"), ("bd", 1)),
}

_TERM = re.compile(r"([0-9]+) ?((?:business |working )?[a-z]+)")
_TERMS = re.compile(rf"(?:{_TERM.pattern} ?)+")
_FRACTION = re.compile(r"[0-9][.,][0-9]")
_CANONICAL_TERM = re.compile(r"([0-9]+)([wdhms])")
_CANONICAL_TEXT = re.compile(r"(?:[0-9]+[wdhms])+")


def parse_duration(value: str | int | float | None) -> Duration | None:
    """Parse a policy duration; None means the target does not apply ("n/a", "none", null).

    Bare numbers other than 0 are refused: "15" could be minutes or hours, and guessing
    wrong silently moves a deadline.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str):
        return _parse_number(value)
    key = _normalise(value)
    if key in _NOT_APPLICABLE:
        return None
    if key in _IMMEDIATE_WORDS:
        return _immediate()
    if key in _NEXT_BUSINESS_DAY_WORDS:
        return Duration(DurationKind.NEXT_BUSINESS_DAY, timedelta(0), "next_business_day")
    return _parse_terms(value, key)


def _normalise(value: str) -> str:
    # Case, runs of spaces and snake_case spellings all mean the same to a reader.
    return re.sub(r"[\s_]+", " ", value.strip().lower()).strip()


def _immediate() -> Duration:
    return Duration(DurationKind.IMMEDIATE, timedelta(0), "immediate")


def _parse_number(value: object) -> Duration:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidDuration(value)
    # YAML turns `ack: 0` into an int; zero is unambiguous whatever the unit.
    if value == 0:
        return _immediate()
    raise InvalidDuration(value, _BARE_NUMBER)


def _parse_terms(value: str, key: str) -> Duration:
    if re.fullmatch("[0-9]+", key):
        raise InvalidDuration(value, _BARE_NUMBER)
    if _FRACTION.search(key):
        raise InvalidDuration(value, "has a fraction (write 1h30m, not 1.5h)")
    if not _TERMS.fullmatch(key):
        raise InvalidDuration(value)
    terms = _TERM.findall(key)
    if any(unit not in _UNIT_ALIASES for _, unit in terms):
        raise InvalidDuration(value)
    # Nine digits of seconds is already past the cap; checking digits first keeps int()
    # and timedelta() away from absurd numbers.
    if any(len(digits) > 9 for digits, _ in terms):
        raise InvalidDuration(value, _TOO_LONG)
    units = [_canonical(int(digits), unit) for digits, unit in terms]
    if sum(n * _UNIT_SECONDS[unit] for n, unit in units) > _LONGEST_SECONDS:
        raise InvalidDuration(value, _TOO_LONG)
    if any(unit in _BUSINESS_UNITS for _, unit in units):
        return _business(value, units)
    return _calendar(units)


def _canonical(count: int, alias: str) -> tuple[int, str]:
    unit, factor = _UNIT_ALIASES[alias]
    return count * factor, unit


def _business(value: str, units: list[tuple[int, str]]) -> Duration:
    # "1bd4bh" has no agreed meaning, so business time is always a single term.
    if len(units) != 1:
        raise InvalidDuration(value, "mixes business time with other units")
    count, unit = units[0]
    kind = _BUSINESS_UNITS[unit]
    return Duration(kind, timedelta(seconds=count * _UNIT_SECONDS[unit]), f"{count}{unit}")


def _calendar(units: list[tuple[int, str]]) -> Duration:
    amount = timedelta(seconds=sum(n * _UNIT_SECONDS[unit] for n, unit in units))
    if not amount:
        return _immediate()
    # One term keeps the author's unit ("72h" stays "72h"); a compound is written largest
    # unit first, so "30m 1h" and "1h30m" read back the same.
    count, unit = units[0]
    text = f"{count}{unit}" if len(units) == 1 else _compact(amount)
    return Duration(DurationKind.CALENDAR, amount, text)


def _compact(amount: timedelta) -> str:
    parts: list[str] = []
    rest = amount
    for unit, (seconds, _) in _CALENDAR_UNITS.items():
        count, rest = divmod(rest, timedelta(seconds=seconds))
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _describe_calendar(text: str) -> str:
    words = [_count(int(n), _CALENDAR_UNITS[unit][1]) for n, unit in _CANONICAL_TERM.findall(text)]
    return " ".join(words)


def _describe_span(duration: Duration) -> str:
    # Words follow the author's unit when the text is ours; a Duration built in code with
    # free text is described from its amount.
    if _CANONICAL_TEXT.fullmatch(duration.text):
        return _describe_calendar(duration.text)
    return _describe_calendar(_compact(duration.amount))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _describe_business_hours(amount: timedelta) -> str:
    # Parsed values are whole hours; a Duration built in code may carry minutes too.
    if amount % _HOUR:
        return f"{_describe_calendar(_compact(amount))} of business time"
    return _count(amount // _HOUR, "business hour")


class BusinessCalendar:
    """Business hours in one time zone, minus weekends and public holidays.

    Business hours are wall-clock hours in `timezone`: a 09:00-17:00 day is 8 business hours
    even on the day the clocks change. A day's hours may not cross midnight (day_start must be
    before day_end). If business hours ever contain a DST change (a 00:00-04:00 day, say),
    counting still follows the wall clock, and a due time is never put before its start.
    """

    def __init__(
        self,
        *,
        timezone: str = "UTC",
        day_start: time = time(9),
        day_end: time = time(17),
        weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4}),
        holiday_country: str | None = None,
        holiday_subdiv: str | None = None,
        extra_holidays: Iterable[date] = (),
    ) -> None:
        if not day_start < day_end:
            raise ValueError(f"day_start {day_start} must be before day_end {day_end}")
        if not weekdays or not weekdays <= frozenset(range(7)):
            raise ValueError(f"weekdays {sorted(weekdays)} must be a non-empty subset of 0-6")
        self.timezone = timezone
        self.day_start = day_start
        self.day_end = day_end
        self.weekdays = weekdays
        self._zone = _zone(timezone)
        self._country = holiday_country
        self._subdiv = holiday_subdiv
        self._extra_holidays = frozenset(extra_holidays)
        self._holidays_by_year: dict[int, frozenset[date]] = {}
        _check_holiday_region(holiday_country, holiday_subdiv)

    def __repr__(self) -> str:
        return (
            f"BusinessCalendar(timezone={self.timezone!r}, day_start={self.day_start}, "
            f"day_end={self.day_end}, weekdays={sorted(self.weekdays)}, "
            f"holiday_country={self._country!r}, holiday_subdiv={self._subdiv!r})"
        )

    def is_business_day(self, day: date) -> bool:
        # A datetime is a date too, but its date depends on the zone; make callers choose.
        if isinstance(day, datetime):
            raise TypeError("is_business_day takes a date; use is_open for an instant")
        return (
            day.weekday() in self.weekdays
            and day not in self._extra_holidays
            and day not in self._country_holidays(day.year)
        )

    def is_open(self, at: datetime) -> bool:
        """Whether `at` falls inside business hours (start inclusive, end exclusive)."""
        local = self._local(at)
        return self.is_business_day(local.date()) and self.day_start <= local.time() < self.day_end

    def next_open(self, at: datetime) -> datetime:
        """`at` itself (in UTC) if open, else the start of the next business period."""
        return self._to_utc(self._open_local(self._local(at)), not_before=at)

    def add(self, start: datetime, duration: Duration) -> datetime:
        """The instant, in UTC, at which a clock started at `start` for `duration` is due.

        - CALENDAR: real elapsed time, so a DST change neither adds nor removes an hour.
        - IMMEDIATE: `start`.
        - BUSINESS_HOURS: counts only business time, from `next_open(start)`. A count that
          ends exactly at day_end is due at that day_end, not the next morning.
        - BUSINESS_DAYS: from `next_open(start)`, step forward n business days and keep
          the wall-clock time. Thursday 15:00 + 5bd is the next Thursday 15:00 (a holiday
          in between pushes it a day); Saturday 03:00 + 1bd is Tuesday at day_start.
        - NEXT_BUSINESS_DAY: day_start on the first business day strictly after start's
          local date, so a Friday 16:00 start is due Monday 09:00.
        """
        _require_aware("start", start)
        match duration.kind:
            case DurationKind.CALENDAR:
                # Aware arithmetic inside one zone is wall-clock arithmetic; UTC is not.
                return start.astimezone(UTC) + duration.amount
            case DurationKind.IMMEDIATE:
                return start.astimezone(UTC)
            case DurationKind.BUSINESS_HOURS:
                return self._add_business_hours(start, duration.amount)
            case DurationKind.BUSINESS_DAYS:
                return self._add_business_days(start, duration.amount.days)
            case DurationKind.NEXT_BUSINESS_DAY:
                opening = self._opens(self._next_business_day(self._local(start).date()))
                return self._to_utc(opening, not_before=start)
            case _:
                assert_never(duration.kind)

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """How much business time passes from `start` to `end` (the inverse of `add`)."""
        if _require_aware("end", end) < _require_aware("start", start):
            raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
        first, last = self._local(start), self._local(end)
        total = timedelta(0)
        day = first.date()
        while day <= last.date():
            if self.is_business_day(day):
                overlap = min(last, self._closes(day)) - max(first, self._opens(day))
                total += max(overlap, timedelta(0))
            day += timedelta(days=1)
        return total

    def _add_business_hours(self, start: datetime, amount: timedelta) -> datetime:
        # Whole days at a time, so 1000 business hours is ~180 steps, not 60000 minutes.
        local = self._open_local(self._local(start))
        while amount > self._closes(local.date()) - local:
            amount -= self._closes(local.date()) - local
            local = self._opens(self._next_business_day(local.date()))
        return self._to_utc(local + amount, not_before=start)

    def _add_business_days(self, start: datetime, days: int) -> datetime:
        local = self._open_local(self._local(start))
        day = local.date()
        for _ in range(days):
            day = self._next_business_day(day)
        return self._to_utc(datetime.combine(day, local.time()), not_before=start)

    def _open_local(self, local: datetime) -> datetime:
        """The first local wall-clock time at or after `local` that is inside business hours."""
        day = local.date()
        if self.is_business_day(day) and local < self._closes(day):
            return max(local, self._opens(day))
        return self._opens(self._next_business_day(day))

    def _next_business_day(self, day: date) -> date:
        # Ends: weekdays is non-empty and each year has finitely many holidays.
        day += timedelta(days=1)
        while not self.is_business_day(day):
            day += timedelta(days=1)
        return day

    def _opens(self, day: date) -> datetime:
        return datetime.combine(day, self.day_start)

    def _closes(self, day: date) -> datetime:
        return datetime.combine(day, self.day_end)

    def _local(self, at: datetime) -> datetime:
        """`at` as a naive wall-clock time in the calendar's zone."""
        return _require_aware("at", at).astimezone(self._zone).replace(tzinfo=None)

    def _to_utc(self, local: datetime, *, not_before: datetime) -> datetime:
        """The earliest instant showing wall-clock `local` that is not before `not_before`.

        A wall-clock time names two instants in the hour the clocks go back (and, as
        zoneinfo reads it, two in the hour they skip). Taking the earliest one not before
        the start keeps a due time from landing before the clock started.
        """
        candidates = sorted(
            local.replace(tzinfo=self._zone, fold=fold).astimezone(UTC) for fold in (0, 1)
        )
        return next((c for c in candidates if c >= not_before), candidates[-1])

    def _country_holidays(self, year: int) -> frozenset[date]:
        # Built per year on first use: a calendar may live for years in a long-running engine.
        if self._country is None:
            return frozenset()
        if year not in self._holidays_by_year:
            found = holidays.country_holidays(self._country, subdiv=self._subdiv, years=year)
            self._holidays_by_year[year] = frozenset(found)
        return self._holidays_by_year[year]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        hint = "use an IANA name like Europe/London"
        raise ValueError(f'unknown time zone "{name}"; {hint}') from error


def _check_holiday_region(country: str | None, subdiv: str | None) -> None:
    # Fail when the policy loads, not at 3 a.m. when the first business-time clock is due.
    if country is None:
        if subdiv is not None:
            raise ValueError("holiday_subdiv needs holiday_country")
        return
    try:
        holidays.country_holidays(country, subdiv=subdiv, years=())
    except NotImplementedError as error:
        raise ValueError(f"no public holidays known for {error}") from error


def _require_aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value
