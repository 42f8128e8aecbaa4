"""Policy durations and business-time arithmetic: worked examples, then properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.policy.durations import (
    BusinessCalendar,
    Duration,
    DurationKind,
    InvalidDuration,
    parse_duration,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")

NINE_TO_FIVE = BusinessCalendar()
US = BusinessCalendar(timezone="America/New_York", holiday_country="US")


ZERO = timedelta(0)
HOUR = timedelta(hours=1)
CALENDAR = DurationKind.CALENDAR
BUSINESS_HOURS = DurationKind.BUSINESS_HOURS
BUSINESS_DAYS = DurationKind.BUSINESS_DAYS
IMMEDIATE = DurationKind.IMMEDIATE
NEXT_BUSINESS_DAY = DurationKind.NEXT_BUSINESS_DAY


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=zone)


def duration(text: str) -> Duration:
    parsed = parse_duration(text)
    assert parsed is not None
    return parsed


def business_hours(amount: timedelta) -> Duration:
    return Duration(DurationKind.BUSINESS_HOURS, amount, f"{amount}")


# --- parse_duration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "amount", "text", "words"),
    [
        ("30s", CALENDAR, timedelta(seconds=30), "30s", "30 seconds"),
        ("15m", CALENDAR, timedelta(minutes=15), "15m", "15 minutes"),
        ("4h", CALENDAR, timedelta(hours=4), "4h", "4 hours"),
        ("3d", CALENDAR, timedelta(days=3), "3d", "3 days"),
        ("1w", CALENDAR, timedelta(weeks=1), "1w", "1 week"),
        ("1h30m", CALENDAR, timedelta(minutes=90), "1h30m", "1 hour 30 minutes"),
        ("30m 1h", CALENDAR, timedelta(minutes=90), "1h30m", "1 hour 30 minutes"),
        ("15 minutes", CALENDAR, timedelta(minutes=15), "15m", "15 minutes"),
        ("30 min", CALENDAR, timedelta(minutes=30), "30m", "30 minutes"),
        ("1 Hour", CALENDAR, timedelta(hours=1), "1h", "1 hour"),
        ("  4   HOURS ", CALENDAR, timedelta(hours=4), "4h", "4 hours"),
        ("8 h", CALENDAR, timedelta(hours=8), "8h", "8 hours"),
        ("72 hours", CALENDAR, timedelta(hours=72), "72h", "72 hours"),
        ("2 days", CALENDAR, timedelta(days=2), "2d", "2 days"),
        ("1 week", CALENDAR, timedelta(weeks=1), "1w", "1 week"),
        ("1 month", CALENDAR, timedelta(days=30), "30d", "30 days"),
        ("1 quarter", CALENDAR, timedelta(weeks=13), "13w", "13 weeks"),
        ("4bh", BUSINESS_HOURS, timedelta(hours=4), "4bh", "4 business hours"),
        ("1 business hour", BUSINESS_HOURS, timedelta(hours=1), "1bh", "1 business hour"),
        ("4 Business Hours", BUSINESS_HOURS, timedelta(hours=4), "4bh", "4 business hours"),
        ("3bd", BUSINESS_DAYS, timedelta(days=3), "3bd", "3 business days"),
        ("3 business days", BUSINESS_DAYS, timedelta(days=3), "3bd", "3 business days"),
        ("5 working days", BUSINESS_DAYS, timedelta(days=5), "5bd", "5 business days"),
        ("immediate", IMMEDIATE, ZERO, "immediate", "immediately"),
        ("Immediately", IMMEDIATE, ZERO, "immediate", "immediately"),
        ("ASAP", IMMEDIATE, ZERO, "immediate", "immediately"),
        ("0", IMMEDIATE, ZERO, "immediate", "immediately"),
        ("0m", IMMEDIATE, ZERO, "immediate", "immediately"),
        ("0 min", IMMEDIATE, ZERO, "immediate", "immediately"),
        (0, IMMEDIATE, ZERO, "immediate", "immediately"),
        ("next business day", NEXT_BUSINESS_DAY, ZERO, "next_business_day", "next business day"),
        ("Next_Business_Day", NEXT_BUSINESS_DAY, ZERO, "next_business_day", "next business day"),
        ("next working day", NEXT_BUSINESS_DAY, ZERO, "next_business_day", "next business day"),
    ],
)
def test_parses_each_form(
    value: str | int, kind: DurationKind, amount: timedelta, text: str, words: str
) -> None:
    parsed = parse_duration(value)

    assert parsed == Duration(kind, amount, text)
    assert str(parsed) == text
    assert parsed.describe() == words


@pytest.mark.parametrize("value", ["n/a", "N/A", "na", "none", "None", "-", "null", " n/a ", None])
def test_not_applicable_means_no_target(value: str | None) -> None:
    assert parse_duration(value) is None


@pytest.mark.parametrize(
    "value",
    ["fortnight", "15", "1.5h", "4 furlongs", "-5m", "", "4bh 1h", "1bd4bh", "1 business", "h"],
)
def test_bad_text_says_what_was_given_and_what_is_allowed(value: str) -> None:
    with pytest.raises(InvalidDuration) as caught:
        parse_duration(value)

    assert f'"{value}"' in str(caught.value)
    assert "4bh" in str(caught.value)


@pytest.mark.parametrize("value", [15, 2.5, -1])
def test_bare_numbers_are_refused_as_ambiguous(value: float) -> None:
    with pytest.raises(InvalidDuration, match="ambiguous") as caught:
        parse_duration(value)

    assert str(value) in str(caught.value)
    assert "4bh" in str(caught.value)


def test_yaml_booleans_are_not_durations() -> None:
    with pytest.raises(InvalidDuration, match="4bh"):
        parse_duration(True)


def test_absurdly_long_durations_are_refused() -> None:
    with pytest.raises(InvalidDuration, match="ten years"):
        parse_duration("99999999999999999999w")


def test_invalid_duration_is_a_value_error() -> None:
    assert issubclass(InvalidDuration, ValueError)


def test_durations_built_in_code_describe_their_amount() -> None:
    assert Duration(CALENDAR, timedelta(minutes=90), "span").describe() == "1 hour 30 minutes"
    assert business_hours(timedelta(minutes=90)).describe() == "1 hour 30 minutes of business time"


def test_the_same_span_in_different_units_is_the_same_duration() -> None:
    assert duration("72h") == duration("3d")
    assert str(duration("72h")) == "72h"


# --- business hours -----------------------------------------------------------------------


def test_four_business_hours_from_friday_afternoon_is_monday_noon() -> None:
    due = NINE_TO_FIVE.add(utc(2026, 11, 20, 16), duration("4bh"))

    assert due == utc(2026, 11, 23, 12)


def test_a_holiday_monday_pushes_the_due_time_to_tuesday() -> None:
    calendar = BusinessCalendar(extra_holidays=[date(2026, 11, 23)])

    due = calendar.add(utc(2026, 11, 20, 16), duration("4bh"))

    assert due == utc(2026, 11, 24, 12)


def test_thanksgiving_is_skipped_with_the_us_holiday_calendar() -> None:
    us_in_utc = BusinessCalendar(holiday_country="US")

    due = us_in_utc.add(utc(2026, 11, 25, 16), duration("4bh"))

    assert due == utc(2026, 11, 27, 12)


def test_ending_exactly_at_closing_time_is_due_at_closing_time() -> None:
    due = NINE_TO_FIVE.add(utc(2026, 11, 20, 9), duration("8bh"))

    assert due == utc(2026, 11, 20, 17)


def test_starting_outside_hours_counts_from_the_next_opening() -> None:
    due = NINE_TO_FIVE.add(utc(2026, 11, 21, 3), duration("1bh"))

    assert due == utc(2026, 11, 23, 10)


def test_a_thousand_business_hours_is_125_business_days() -> None:
    due = NINE_TO_FIVE.add(utc(2026, 1, 5, 9), duration("1000bh"))

    assert due == utc(2026, 6, 26, 17)


# --- business days and next business day --------------------------------------------------


def test_review_five_business_days_after_a_thursday_skips_the_weekend() -> None:
    due = NINE_TO_FIVE.add(utc(2026, 11, 19, 14), duration("5bd"))

    assert due == utc(2026, 11, 26, 14)


def test_review_five_business_days_after_a_thursday_skips_a_holiday() -> None:
    us_in_utc = BusinessCalendar(holiday_country="US")

    due = us_in_utc.add(utc(2026, 11, 19, 14), duration("5bd"))

    assert due == utc(2026, 11, 27, 14)


def test_business_days_from_outside_hours_start_at_the_next_opening() -> None:
    due = NINE_TO_FIVE.add(utc(2026, 11, 21, 3), duration("1bd"))

    assert due == utc(2026, 11, 24, 9)


def test_next_business_day_from_friday_afternoon_is_monday_morning() -> None:
    due = US.add(local(NEW_YORK, 2026, 11, 20, 16), duration("next business day"))

    assert due == local(NEW_YORK, 2026, 11, 23, 9)
    assert due.tzinfo is UTC


def test_next_business_day_from_saturday_is_monday_morning() -> None:
    due = US.add(local(NEW_YORK, 2026, 11, 21, 11), duration("next business day"))

    assert due == local(NEW_YORK, 2026, 11, 23, 9)


def test_next_business_day_skips_a_holiday_monday() -> None:
    calendar = BusinessCalendar(extra_holidays=[date(2026, 11, 23)])

    due = calendar.add(utc(2026, 11, 20, 16), duration("next_business_day"))

    assert due == utc(2026, 11, 24, 9)


def test_next_business_day_is_strictly_after_the_start_date() -> None:
    due = NINE_TO_FIVE.add(utc(2026, 11, 23, 8), duration("next_business_day"))

    assert due == utc(2026, 11, 24, 9)


def test_next_business_day_uses_the_calendar_zone_date() -> None:
    # Friday 23:30 in New York is already Saturday in UTC; the New York date is what counts.
    due = US.add(utc(2026, 11, 21, 4, 30), duration("next_business_day"))

    assert due == local(NEW_YORK, 2026, 11, 23, 9)


# --- daylight saving time -----------------------------------------------------------------

# Fridays just before the clocks change: (zone, friday, monday, how the UTC offset moves).
DST_WEEKENDS = [
    pytest.param(LONDON, date(2026, 3, 27), date(2026, 3, 30), HOUR, id="london-spring"),
    pytest.param(LONDON, date(2026, 10, 23), date(2026, 10, 26), -HOUR, id="london-autumn"),
    pytest.param(NEW_YORK, date(2026, 3, 6), date(2026, 3, 9), HOUR, id="new-york-spring"),
    pytest.param(NEW_YORK, date(2026, 10, 30), date(2026, 11, 2), -HOUR, id="new-york-autumn"),
]


@pytest.mark.parametrize(("zone", "friday", "monday", "shift"), DST_WEEKENDS)
def test_business_hours_across_a_clock_change_keep_wall_clock_time(
    zone: ZoneInfo, friday: date, monday: date, shift: timedelta
) -> None:
    calendar = BusinessCalendar(timezone=zone.key)
    start = datetime.combine(friday, time(13), tzinfo=zone)

    due = calendar.add(start, duration("8bh"))

    assert due.astimezone(zone).replace(tzinfo=None) == datetime.combine(monday, time(13))
    assert due.astimezone(zone).utcoffset() == start.utcoffset() + shift  # type: ignore[operator]
    assert due - start == timedelta(days=3) - shift


@pytest.mark.parametrize(("zone", "friday", "monday", "shift"), DST_WEEKENDS)
def test_a_business_day_from_friday_opening_is_monday_opening_across_a_clock_change(
    zone: ZoneInfo, friday: date, monday: date, shift: timedelta
) -> None:
    calendar = BusinessCalendar(timezone=zone.key)
    start = datetime.combine(friday, time(9), tzinfo=zone)

    due = calendar.add(start, duration("1bd"))

    assert due == datetime.combine(monday, time(9), tzinfo=zone)
    assert due.astimezone(zone).utcoffset() == start.utcoffset() + shift  # type: ignore[operator]
    assert calendar.business_time_between(start, due) == timedelta(hours=8)


@pytest.mark.parametrize(
    ("zone", "saturday", "expected"),
    [
        (LONDON, local(LONDON, 2026, 3, 28, 12), local(LONDON, 2026, 3, 29, 13)),
        (LONDON, local(LONDON, 2026, 10, 24, 12), local(LONDON, 2026, 10, 25, 11)),
        (NEW_YORK, local(NEW_YORK, 2026, 3, 7, 12), local(NEW_YORK, 2026, 3, 8, 13)),
        (NEW_YORK, local(NEW_YORK, 2026, 10, 31, 12), local(NEW_YORK, 2026, 11, 1, 11)),
    ],
)
def test_calendar_hours_across_a_clock_change_are_real_hours(
    zone: ZoneInfo, saturday: datetime, expected: datetime
) -> None:
    due = BusinessCalendar(timezone=zone.key).add(saturday, duration("24h"))

    assert due - saturday == timedelta(hours=24)
    assert due.astimezone(zone).replace(tzinfo=None) == expected.replace(tzinfo=None)


def test_business_hours_are_wall_clock_hours_on_the_day_the_clocks_go_forward() -> None:
    night_shift = BusinessCalendar(
        timezone="America/New_York",
        day_start=time(0),
        day_end=time(6),
        weekdays=frozenset(range(7)),
    )
    start = local(NEW_YORK, 2026, 3, 8, 0)

    due = night_shift.add(start, duration("6bh"))

    assert due == local(NEW_YORK, 2026, 3, 8, 6)
    assert due - start == timedelta(hours=5)


def test_a_due_time_in_the_repeated_hour_is_never_before_its_start() -> None:
    night_shift = BusinessCalendar(
        timezone="Europe/London", day_start=time(0), day_end=time(4), weekdays=frozenset(range(7))
    )
    second_half_past_one = utc(2026, 10, 25, 1, 30)  # 01:30 GMT, after 01:30 BST an hour ago

    due = night_shift.add(second_half_past_one, business_hours(timedelta(minutes=10)))

    assert due == utc(2026, 10, 25, 1, 40)


# --- the calendar itself ------------------------------------------------------------------


def test_closing_time_is_not_open() -> None:
    assert NINE_TO_FIVE.is_open(utc(2026, 11, 20, 16, 59))
    assert not NINE_TO_FIVE.is_open(utc(2026, 11, 20, 17))
    assert not NINE_TO_FIVE.is_open(utc(2026, 11, 21, 12))


def test_next_open_is_the_same_instant_when_open() -> None:
    at = local(NEW_YORK, 2026, 11, 20, 10)

    assert US.next_open(at) == at
    assert US.next_open(at).tzinfo is UTC


def test_next_open_after_closing_is_the_next_business_morning() -> None:
    assert US.next_open(local(NEW_YORK, 2026, 11, 25, 17)) == local(NEW_YORK, 2026, 11, 27, 9)


def test_is_business_day_knows_weekends_and_holidays() -> None:
    assert US.is_business_day(date(2026, 11, 25))
    assert not US.is_business_day(date(2026, 11, 26))
    assert not US.is_business_day(date(2026, 11, 28))


def test_is_business_day_refuses_an_instant() -> None:
    with pytest.raises(TypeError, match="is_open"):
        US.is_business_day(utc(2026, 11, 25, 12))


@pytest.mark.parametrize("kind", ["15m", "4bh", "3bd", "immediate", "next_business_day"])
def test_naive_datetimes_are_refused(kind: str) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        NINE_TO_FIVE.add(datetime(2026, 11, 20, 16), duration(kind))


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "time zone"),
        ({"holiday_country": "XX"}, "XX"),
        ({"holiday_country": "US", "holiday_subdiv": "ZZ"}, "ZZ"),
        ({"holiday_subdiv": "CA"}, "holiday_country"),
        ({"day_start": time(17), "day_end": time(9)}, "day_start"),
        ({"weekdays": frozenset()}, "weekdays"),
        ({"weekdays": frozenset({7})}, "weekdays"),
    ],
)
def test_a_bad_calendar_fails_when_built(settings_: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**settings_)  # type: ignore[arg-type]


def test_business_time_between_refuses_a_backwards_span() -> None:
    with pytest.raises(ValueError, match="before start"):
        NINE_TO_FIVE.business_time_between(utc(2026, 11, 20, 12), utc(2026, 11, 20, 11))


# --- properties ---------------------------------------------------------------------------

PROPERTY = settings(max_examples=200, deadline=None)

CALENDARS = st.sampled_from(
    [
        NINE_TO_FIVE,
        US,
        BusinessCalendar(timezone="Europe/London", holiday_country="GB", holiday_subdiv="ENG"),
        BusinessCalendar(
            timezone="Australia/Sydney",
            day_start=time(7, 45),
            day_end=time(18, 15),
            holiday_country="AU",
            holiday_subdiv="NSW",
        ),
        # Sunday to Thursday, and a day so short that most counts cross many days.
        BusinessCalendar(
            timezone="Asia/Jerusalem",
            day_start=time(9, 30),
            day_end=time(10, 15),
            weekdays=frozenset({6, 0, 1, 2, 3}),
        ),
    ]
)
STARTS = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2029, 12, 31),
    timezones=st.sampled_from([UTC, LONDON, NEW_YORK, ZoneInfo("Asia/Kolkata")]),
)
BUSINESS_SPANS = st.integers(min_value=0, max_value=300 * 60).map(lambda m: timedelta(minutes=m))
POSITIVE_SPANS = st.integers(min_value=1, max_value=300 * 60).map(lambda m: timedelta(minutes=m))
CALENDAR_SPANS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400))
DURATIONS = st.one_of(
    BUSINESS_SPANS.map(business_hours),
    CALENDAR_SPANS.map(lambda span: Duration(DurationKind.CALENDAR, span, "span")),
    st.integers(0, 60).map(lambda n: Duration(DurationKind.BUSINESS_DAYS, timedelta(days=n), "n")),
    st.sampled_from([duration("immediate"), duration("next_business_day")]),
)


def wall_clock(calendar: BusinessCalendar, at: datetime) -> datetime:
    return at.astimezone(ZoneInfo(calendar.timezone)).replace(tzinfo=None)


@PROPERTY
@given(CALENDARS, STARTS, BUSINESS_SPANS)
def test_business_hours_land_in_hours_or_at_closing_and_never_before_start(
    calendar: BusinessCalendar, start: datetime, span: timedelta
) -> None:
    due = calendar.add(start, business_hours(span))
    local_due = wall_clock(calendar, due)

    assert due >= start
    at_closing = local_due.time() == calendar.day_end and calendar.is_business_day(local_due.date())
    assert calendar.is_open(due) or at_closing


@PROPERTY
@given(CALENDARS, STARTS, BUSINESS_SPANS, BUSINESS_SPANS)
def test_more_business_hours_are_never_due_sooner(
    calendar: BusinessCalendar, start: datetime, one: timedelta, other: timedelta
) -> None:
    shorter, longer = sorted([one, other])
    sooner = calendar.add(start, business_hours(shorter))

    assert sooner <= calendar.add(start, business_hours(longer))


@PROPERTY
@given(CALENDARS, STARTS, BUSINESS_SPANS, POSITIVE_SPANS)
def test_business_hours_add_up(
    calendar: BusinessCalendar, start: datetime, first: timedelta, then: timedelta
) -> None:
    opened = calendar.next_open(start)

    in_two_steps = calendar.add(calendar.add(opened, business_hours(first)), business_hours(then))

    assert in_two_steps == calendar.add(opened, business_hours(first + then))


@PROPERTY
@given(CALENDARS, STARTS, BUSINESS_SPANS)
def test_the_business_time_until_due_is_the_duration(
    calendar: BusinessCalendar, start: datetime, span: timedelta
) -> None:
    due = calendar.add(start, business_hours(span))

    assert calendar.business_time_between(start, due) == span


@PROPERTY
@given(CALENDARS, STARTS, CALENDAR_SPANS)
def test_calendar_time_is_plain_elapsed_time(
    calendar: BusinessCalendar, start: datetime, span: timedelta
) -> None:
    due = calendar.add(start, Duration(DurationKind.CALENDAR, span, "span"))

    assert due - start == span
    assert due == start.astimezone(UTC) + span


@PROPERTY
@given(CALENDARS, STARTS, st.integers(0, 60))
def test_business_days_keep_the_opening_wall_clock_time_on_a_business_day(
    calendar: BusinessCalendar, start: datetime, days: int
) -> None:
    due = calendar.add(start, duration(f"{days}bd"))
    opened = calendar.next_open(start)

    assert calendar.is_business_day(wall_clock(calendar, due).date())
    assert wall_clock(calendar, due).time() == wall_clock(calendar, opened).time()
    business_dates = _business_dates(calendar, opened, due)
    assert len(business_dates) == days + 1


@PROPERTY
@given(CALENDARS, STARTS)
def test_next_business_day_is_the_first_opening_after_the_start_date(
    calendar: BusinessCalendar, start: datetime
) -> None:
    due = calendar.add(start, duration("next_business_day"))
    start_date, due_local = wall_clock(calendar, start).date(), wall_clock(calendar, due)

    assert due_local.time() == calendar.day_start
    assert due_local.date() > start_date
    assert _business_dates(calendar, start, due) - {start_date} == {due_local.date()}


@PROPERTY
@given(CALENDARS, STARTS, DURATIONS)
def test_every_due_time_is_aware_utc(
    calendar: BusinessCalendar, start: datetime, span: Duration
) -> None:
    assert calendar.add(start, span).tzinfo is UTC


TEXTS = st.one_of(
    st.builds(
        "{}{}".format,
        st.integers(1, 500),
        st.sampled_from(["s", "m", "h", "d", "w", "bh", "bd", " minutes", " business days"]),
    ),
    st.builds("{}h{}m".format, st.integers(1, 48), st.integers(1, 59)),
)


@PROPERTY
@given(TEXTS)
def test_canonical_text_parses_back_to_the_same_duration(text: str) -> None:
    parsed = duration(text)

    assert duration(str(parsed)) == parsed
    assert str(duration(str(parsed))) == str(parsed)
    assert duration(f"  {text.upper()} ") == parsed


def _business_dates(calendar: BusinessCalendar, start: datetime, end: datetime) -> set[date]:
    """The business days whose dates fall between two instants, both ends included."""
    first, last = wall_clock(calendar, start).date(), wall_clock(calendar, end).date()
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return {day for day in days if calendar.is_business_day(day)}
