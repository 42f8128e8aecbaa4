"""Rotation maths: worked examples across the 2026 DST changes, then properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tocsin.errors import InvalidInput
from tocsin.oncall.rotation import (
    Layer,
    Override,
    Restriction,
    Rotation,
    ScheduleSpec,
    Shift,
    final_shifts,
    layer_shifts,
    on_call_at,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)
TICK = timedelta(microseconds=1)


def at(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A wall-clock time in `zone` (first occurrence if repeated), as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)


def rotation(kind: str, start: date, people: list[str], **fields: Any) -> Rotation:
    return Rotation.model_validate({"kind": kind, "start": start, "participants": people, **fields})


def schedule(
    zone: ZoneInfo, *layers: Layer, overrides: list[Override] | None = None
) -> ScheduleSpec:
    return ScheduleSpec(
        name="payments", timezone=zone.key, layers=list(layers), overrides=overrides or []
    )


def real_hours(shift: Shift) -> float:
    return (shift.end - shift.start) / HOUR


def local_handoffs(shifts: list[Shift], zone: ZoneInfo) -> list[str]:
    return [shift.start.astimezone(zone).strftime("%a %m-%d %H:%M") for shift in shifts]


def assert_contiguous(shifts: list[Shift], start: datetime, end: datetime) -> None:
    assert shifts[0].start == start
    assert shifts[-1].end == end
    for before, after in pairwise(shifts):
        assert before.end == after.start


# --- weekly across both DST changes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "dst_monday", "dst_week_hours"),
    [
        (LONDON, date(2026, 3, 23), 167),  # clocks go forward Sunday 2026-03-29
        (LONDON, date(2026, 10, 19), 169),  # clocks go back Sunday 2026-10-25
        (NEW_YORK, date(2026, 3, 2), 167),  # clocks go forward Sunday 2026-03-08
        (NEW_YORK, date(2026, 10, 26), 169),  # clocks go back Sunday 2026-11-01
    ],
)
def test_a_weekly_handoff_stays_at_nine_local_across_dst(
    zone: ZoneInfo, dst_monday: date, dst_week_hours: int
) -> None:
    people = ["ana", "ben", "cho"]
    primary = Layer(name="primary", rotation=rotation("weekly", date(2026, 1, 5), people))
    spec = schedule(zone, primary)
    window_start = at(zone, dst_monday.year, dst_monday.month, dst_monday.day) - timedelta(weeks=2)
    window_end = window_start + timedelta(weeks=5)

    shifts = final_shifts(spec, window_start, window_end)

    assert_contiguous(shifts, window_start, window_end)
    whole = shifts[1:-1]
    assert [shift.start.astimezone(zone).strftime("%a %H:%M") for shift in whole] == [
        "Mon 09:00"
    ] * 4
    assert [real_hours(shift) for shift in whole] == [168, 168, dst_week_hours, 168]
    weeks_since_start = (dst_monday - date(2026, 1, 5)).days // 7
    assert whole[2].person == people[weeks_since_start % 3]
    assert whole[2].start == at(zone, dst_monday.year, dst_monday.month, dst_monday.day, 9)


def test_the_weekly_rotation_cycles_through_participants_in_order() -> None:
    people = ["ana", "ben", "cho"]
    spec = schedule(
        LONDON, Layer(name="primary", rotation=rotation("weekly", date(2026, 1, 5), people))
    )
    shifts = final_shifts(spec, at(LONDON, 2026, 1, 5, 9), at(LONDON, 2026, 2, 16, 9))
    assert [shift.person for shift in shifts] == people * 2


# --- daily, biweekly, hours -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "dst_day", "expected"),
    [
        (LONDON, date(2026, 3, 29), [24, 23, 24]),
        (LONDON, date(2026, 10, 25), [24, 25, 24]),
        (NEW_YORK, date(2026, 3, 8), [24, 23, 24]),
        (NEW_YORK, date(2026, 11, 1), [24, 25, 24]),
    ],
)
def test_a_daily_shift_over_a_dst_change_is_23_or_25_hours(
    zone: ZoneInfo, dst_day: date, expected: list[int]
) -> None:
    daily = Layer(name="primary", rotation=rotation("daily", date(2026, 1, 1), ["ana", "ben"]))
    first, last = dst_day - timedelta(days=2), dst_day + timedelta(days=1)
    start = at(zone, first.year, first.month, first.day, 9)
    end = at(zone, last.year, last.month, last.day, 9)
    shifts = final_shifts(schedule(zone, daily), start, end)

    assert [real_hours(shift) for shift in shifts] == expected
    assert {shift.start.astimezone(zone).time() for shift in shifts} == {time(9)}
    assert shifts[-1].end.astimezone(zone).time() == time(9)


def test_a_biweekly_rotation_hands_off_every_other_monday_across_dst() -> None:
    biweekly = rotation("biweekly", date(2026, 2, 16), ["ana", "ben"], handoff=time(10))
    spec = schedule(NEW_YORK, Layer(name="primary", rotation=biweekly))
    shifts = final_shifts(spec, at(NEW_YORK, 2026, 2, 16, 10), at(NEW_YORK, 2026, 3, 30, 10))

    assert local_handoffs(shifts, NEW_YORK) == [
        "Mon 02-16 10:00",
        "Mon 03-02 10:00",
        "Mon 03-16 10:00",
    ]
    assert [shift.person for shift in shifts] == ["ana", "ben", "ana"]
    assert [real_hours(shift) for shift in shifts] == [336, 335, 336]


def test_a_rotation_starting_midweek_gives_the_first_person_a_short_first_shift() -> None:
    weekly = rotation("weekly", date(2026, 3, 4), ["ana", "ben"], handoff_weekday=0)
    spec = schedule(NEW_YORK, Layer(name="primary", rotation=weekly))
    shifts = final_shifts(spec, at(NEW_YORK, 2026, 3, 1), at(NEW_YORK, 2026, 3, 23, 9))

    assert local_handoffs(shifts, NEW_YORK) == [
        "Wed 03-04 09:00",
        "Mon 03-09 09:00",
        "Mon 03-16 09:00",
    ]
    assert [shift.person for shift in shifts] == ["ana", "ben", "ana"]
    assert on_call_at(spec, at(NEW_YORK, 2026, 3, 4, 8, 59)) is None


def test_a_12_hour_rotation_keeps_9_and_21_local_so_the_night_shift_stretches() -> None:
    twelve = rotation("hours", date(2026, 3, 1), ["day", "night"], length=12)
    spec = schedule(NEW_YORK, Layer(name="primary", rotation=twelve))
    spring = final_shifts(spec, at(NEW_YORK, 2026, 3, 7, 9), at(NEW_YORK, 2026, 3, 8, 21))
    autumn = final_shifts(spec, at(NEW_YORK, 2026, 10, 31, 9), at(NEW_YORK, 2026, 11, 1, 21))

    assert [(s.person, real_hours(s)) for s in spring] == [("day", 12), ("night", 11), ("day", 12)]
    assert [(s.person, real_hours(s)) for s in autumn] == [("day", 12), ("night", 13), ("day", 12)]
    assert local_handoffs(spring, NEW_YORK) == [
        "Sat 03-07 09:00",
        "Sat 03-07 21:00",
        "Sun 03-08 09:00",
    ]


def test_an_hours_rotation_that_does_not_divide_a_day_counts_real_hours() -> None:
    five = rotation("hours", date(2026, 3, 7), ["ana", "ben", "cho"], length=5, handoff=time(0))
    spec = schedule(NEW_YORK, Layer(name="primary", rotation=five))
    shifts = final_shifts(spec, at(NEW_YORK, 2026, 3, 7), at(NEW_YORK, 2026, 3, 7) + 12 * 5 * HOUR)

    assert [real_hours(shift) for shift in shifts] == [5] * 12
    # Local times drift an hour once the clocks go forward: 00:00, 05:00, ... then 06:00.
    assert shifts[6].start.astimezone(NEW_YORK).hour == 7


def test_a_days_rotation_hands_off_every_n_days_at_the_handoff_time() -> None:
    three = rotation("days", date(2026, 3, 6), ["ana", "ben"], length=3, handoff=time(8))
    spec = schedule(LONDON, Layer(name="primary", rotation=three))
    shifts = final_shifts(spec, at(LONDON, 2026, 3, 6, 8), at(LONDON, 2026, 4, 2, 8))

    assert [shift.start.astimezone(LONDON).time() for shift in shifts] == [time(8)] * 9
    # The shift from Friday 27 March holds the Sunday the clocks go forward.
    assert [real_hours(shift) for shift in shifts] == [72] * 7 + [71, 72]


# --- nonexistent and ambiguous handoff times --------------------------------------------------


def test_a_handoff_at_0130_on_fall_back_day_happens_at_the_first_0130() -> None:
    daily = rotation("daily", date(2026, 10, 30), ["ana", "ben", "cho"], handoff=time(1, 30))
    spec = schedule(NEW_YORK, Layer(name="primary", rotation=daily))
    shifts = final_shifts(spec, at(NEW_YORK, 2026, 10, 31, 1, 30), at(NEW_YORK, 2026, 11, 2, 1, 30))

    first_0130 = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    second_0130 = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST
    assert [(s.person, s.start, real_hours(s)) for s in shifts] == [
        ("ben", datetime(2026, 10, 31, 5, 30, tzinfo=UTC), 24),
        ("cho", first_0130, 25),
    ]
    assert on_call_at(spec, first_0130 - TICK) == "ben"
    assert on_call_at(spec, first_0130) == "cho"
    # 01:15 EST shows an earlier wall time than the handoff, but comes after it.
    assert on_call_at(spec, second_0130 - 15 * timedelta(minutes=1)) == "cho"
    assert on_call_at(spec, second_0130) == "cho"


def test_a_handoff_at_0230_on_spring_forward_day_happens_when_the_clocks_jump() -> None:
    daily = rotation("daily", date(2026, 3, 6), ["ana", "ben", "cho"], handoff=time(2, 30))
    spec = schedule(NEW_YORK, Layer(name="primary", rotation=daily))
    shifts = final_shifts(spec, at(NEW_YORK, 2026, 3, 7, 2, 30), at(NEW_YORK, 2026, 3, 9, 2, 30))

    jump = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT, the first instant after 02:00 EST
    assert [(s.person, s.start, real_hours(s)) for s in shifts] == [
        ("ben", datetime(2026, 3, 7, 7, 30, tzinfo=UTC), 23.5),
        ("cho", jump, 23.5),
    ]
    assert shifts[1].end.astimezone(NEW_YORK).time() == time(2, 30)
    assert on_call_at(spec, jump - TICK) == "ben"
    assert on_call_at(spec, jump) == "cho"


def test_an_hourly_rotation_skips_the_turn_that_falls_in_the_missing_hour() -> None:
    hourly = rotation("hours", date(2026, 3, 8), ["h0", "h1", "h2", "h3", "h4"], handoff=time(0))
    spec = schedule(NEW_YORK, Layer(name="primary", rotation=hourly))
    shifts = final_shifts(spec, at(NEW_YORK, 2026, 3, 8), at(NEW_YORK, 2026, 3, 8, 5))

    assert [(s.person, real_hours(s)) for s in shifts] == [
        ("h0", 1),
        ("h1", 1),
        ("h3", 1),
        ("h4", 1),
    ]


# --- restrictions, layers and overrides -------------------------------------------------------

WEEKDAYS_NINE_TO_FIVE = Restriction(days=[0, 1, 2, 3, 4], start=time(9), end=time(17))


def test_a_business_hours_layer_sits_on_a_round_the_clock_layer() -> None:
    always = Layer(name="primary", rotation=rotation("weekly", date(2026, 3, 2), ["nia"]))
    office = Layer(
        name="daytime",
        rotation=rotation("daily", date(2026, 3, 2), ["ana", "ben"]),
        restrictions=[WEEKDAYS_NINE_TO_FIVE],
    )
    spec = schedule(LONDON, always, office)
    shifts = final_shifts(spec, at(LONDON, 2026, 3, 26), at(LONDON, 2026, 3, 31))

    assert [
        (s.person, s.layer, s.start.astimezone(LONDON).strftime("%a %H:%M")) for s in shifts
    ] == [
        ("nia", "primary", "Thu 00:00"),
        ("ana", "daytime", "Thu 09:00"),
        ("nia", "primary", "Thu 17:00"),
        ("ben", "daytime", "Fri 09:00"),
        ("nia", "primary", "Fri 17:00"),  # through the weekend and the DST change
        ("ana", "daytime", "Mon 09:00"),
        ("nia", "primary", "Mon 17:00"),
    ]
    assert real_hours(shifts[4]) == 63
    assert on_call_at(spec, at(LONDON, 2026, 3, 28, 12)) == "nia"
    assert on_call_at(spec, at(LONDON, 2026, 3, 30, 12)) == "ana"


def test_a_restricted_layer_alone_leaves_gaps_outside_its_windows() -> None:
    office = Layer(
        name="daytime",
        rotation=rotation("weekly", date(2026, 3, 2), ["ana"]),
        restrictions=[WEEKDAYS_NINE_TO_FIVE],
    )
    spec = schedule(LONDON, office)
    shifts = layer_shifts(spec, office, at(LONDON, 2026, 3, 2), at(LONDON, 2026, 3, 9))

    assert len(shifts) == 5
    assert all(real_hours(shift) == 8 for shift in shifts)
    assert on_call_at(spec, at(LONDON, 2026, 3, 2, 17)) is None


def test_an_overnight_window_ending_at_24_00_or_past_midnight() -> None:
    late = Restriction.model_validate({"days": [4], "start": "18:00", "end": "24:00"})
    overnight = Restriction(days=[5], start=time(22), end=time(6))
    layer = Layer(
        name="weekend",
        rotation=rotation("weekly", date(2026, 3, 2), ["ana"]),
        restrictions=[late, overnight],
    )
    spec = schedule(NEW_YORK, layer)
    shifts = layer_shifts(spec, layer, at(NEW_YORK, 2026, 3, 2), at(NEW_YORK, 2026, 3, 9))

    assert [(local_handoffs([s], NEW_YORK)[0], real_hours(s)) for s in shifts] == [
        ("Fri 03-06 18:00", 6),
        ("Sat 03-07 22:00", 7),  # 22:00 EST to 06:00 EDT: the clocks jump at 02:00
    ]


def test_the_later_layer_wins() -> None:
    primary = Layer(name="primary", rotation=rotation("weekly", date(2026, 3, 2), ["ana"]))
    secondary = Layer(name="secondary", rotation=rotation("weekly", date(2026, 3, 2), ["ben"]))
    window = (at(LONDON, 2026, 3, 2, 9), at(LONDON, 2026, 3, 9, 9))

    assert [s.person for s in final_shifts(schedule(LONDON, primary, secondary), *window)] == [
        "ben"
    ]
    assert [s.person for s in final_shifts(schedule(LONDON, secondary, primary), *window)] == [
        "ana"
    ]


def test_an_override_in_the_middle_of_a_shift_leaves_the_pieces_either_side() -> None:
    weekly = Layer(name="primary", rotation=rotation("weekly", date(2026, 3, 2), ["ana", "ben"]))
    cover = Override(person="cho", start=at(LONDON, 2026, 3, 4, 12), end=at(LONDON, 2026, 3, 5, 12))
    spec = schedule(LONDON, weekly, overrides=[cover])
    shifts = final_shifts(spec, at(LONDON, 2026, 3, 2, 9), at(LONDON, 2026, 3, 16, 9))

    assert [(s.person, s.layer, s.start, s.end) for s in shifts] == [
        ("ana", "primary", at(LONDON, 2026, 3, 2, 9), cover.start),
        ("cho", "override", cover.start, cover.end),
        ("ana", "primary", cover.end, at(LONDON, 2026, 3, 9, 9)),
        ("ben", "primary", at(LONDON, 2026, 3, 9, 9), at(LONDON, 2026, 3, 16, 9)),
    ]
    assert on_call_at(spec, cover.start) == "cho"
    assert on_call_at(spec, cover.end) == "ana"


def test_an_override_for_the_person_already_on_call_merges_into_their_shift() -> None:
    weekly = Layer(name="primary", rotation=rotation("weekly", date(2026, 3, 2), ["ana", "ben"]))
    own = Override(person="ana", start=at(LONDON, 2026, 3, 8), end=at(LONDON, 2026, 3, 10))
    spec = schedule(LONDON, weekly, overrides=[own])
    shifts = final_shifts(spec, at(LONDON, 2026, 3, 2, 9), at(LONDON, 2026, 3, 16, 9))

    assert [(s.person, s.layer, s.start, s.end) for s in shifts] == [
        ("ana", "primary", at(LONDON, 2026, 3, 2, 9), own.end),
        ("ben", "primary", own.end, at(LONDON, 2026, 3, 16, 9)),
    ]


def test_overlapping_overrides_the_later_one_wins_and_covers_gaps() -> None:
    first = Override(person="ana", start=at(LONDON, 2026, 3, 1), end=at(LONDON, 2026, 3, 3))
    second = Override(person="ben", start=at(LONDON, 2026, 3, 2), end=at(LONDON, 2026, 3, 4))
    spec = schedule(LONDON, overrides=[first, second])
    shifts = final_shifts(spec, at(LONDON, 2026, 2, 28), at(LONDON, 2026, 3, 5))

    assert [(s.person, s.start, s.end) for s in shifts] == [
        ("ana", first.start, second.start),
        ("ben", second.start, second.end),
    ]


def test_nobody_is_on_call_from_a_layer_before_its_rotation_starts() -> None:
    weekly = Layer(name="primary", rotation=rotation("weekly", date(2026, 3, 2), ["ana"]))
    spec = schedule(LONDON, weekly)
    shifts = final_shifts(spec, at(LONDON, 2026, 2, 1), at(LONDON, 2026, 3, 3))

    assert [(s.person, s.start) for s in shifts] == [("ana", at(LONDON, 2026, 3, 2, 9))]
    assert on_call_at(spec, at(LONDON, 2026, 3, 2, 8, 59)) is None


def test_on_call_at_computes_far_future_shifts_arithmetically() -> None:
    people = ["ana", "ben", "cho", "dev", "eve", "fay", "gus"]
    spec = schedule(
        NEW_YORK, Layer(name="primary", rotation=rotation("daily", date(2026, 1, 1), people))
    )
    for day in (date(2076, 3, 8), date(2076, 11, 1), date(2126, 7, 4)):
        noon = at(NEW_YORK, day.year, day.month, day.day, 12)
        assert on_call_at(spec, noon) == people[(day - date(2026, 1, 1)).days % 7]


def test_a_window_of_a_year_steps_shift_by_shift() -> None:
    hourly = rotation("hours", date(2026, 1, 1), ["ana", "ben", "cho"], handoff=time(0))
    spec = schedule(NEW_YORK, Layer(name="primary", rotation=hourly))
    shifts = final_shifts(spec, at(NEW_YORK, 2026, 1, 1), at(NEW_YORK, 2027, 1, 1))
    # 365 days of wall-clock hours: 8760, less the one that fell into the missing hour.
    assert len(shifts) == 8759


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "weekly", "length": 2}, "use kind 'days'"),
        ({"kind": "daily", "handoff_weekday": 0}, "handoff_weekday applies only"),
        ({"kind": "hours", "length": 0}, "greater than or equal to 1"),
        ({"kind": "fortnightly"}, "'daily', 'weekly', 'biweekly', 'hours' or 'days'"),
        ({"kind": "weekly", "participants": []}, "at least 1 item"),
        ({"kind": "weekly", "handoff_weekday": 7}, "less than or equal to 6"),
        ({"kind": "weekly", "shift": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_rotation_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Rotation.model_validate({"start": "2026-03-02", "participants": ["ana"], **fields})


def test_a_bad_schedule_is_refused() -> None:
    layer = Layer(name="primary", rotation=rotation("weekly", date(2026, 3, 2), ["ana"]))
    with pytest.raises(ValidationError, match="unknown time zone"):
        ScheduleSpec(name="s", timezone="Mars/Olympus", layers=[layer])
    with pytest.raises(ValidationError, match="layer names must be unique"):
        ScheduleSpec(name="s", timezone="UTC", layers=[layer, layer])
    with pytest.raises(ValidationError, match="reserved for overrides"):
        Layer(name="override", rotation=layer.rotation)
    with pytest.raises(ValidationError, match="end must be after its start"):
        Override(
            person="ana",
            start=datetime(2026, 3, 2, tzinfo=UTC),
            end=datetime(2026, 3, 2, tzinfo=UTC),
        )
    with pytest.raises(ValidationError, match="timezone"):
        Override(person="ana", start=datetime(2026, 3, 2), end=datetime(2026, 3, 3))


def test_naive_instants_are_refused() -> None:
    spec = schedule(
        LONDON, Layer(name="primary", rotation=rotation("weekly", date(2026, 3, 2), ["ana"]))
    )
    with pytest.raises(InvalidInput) as error:
        on_call_at(spec, datetime(2026, 3, 3))
    assert error.value.field == "at"
    with pytest.raises(InvalidInput):
        final_shifts(spec, datetime(2026, 3, 3), datetime(2026, 3, 4, tzinfo=UTC))
    with pytest.raises(InvalidInput):
        final_shifts(spec, datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
    assert (
        final_shifts(spec, datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC)) == []
    )


# --- properties -------------------------------------------------------------------------------

PROPERTY = settings(max_examples=60, deadline=None)

# Zones with DST at 01:00 UTC, at 02:00 local, at midnight (Santiago), by 30 minutes (Lord Howe),
# "negative" DST (Dublin), and none at all.
ZONES = [
    "Europe/London",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Europe/Dublin",
    "Asia/Kolkata",
    "UTC",
]
PEOPLE = ["ana", "ben", "cho", "dev"]
EARLIEST = datetime(2025, 9, 1, tzinfo=UTC)
LATEST = datetime(2027, 3, 1, tzinfo=UTC)

wall_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
days_in_range = st.dates(date(2025, 6, 1), date(2027, 1, 1))


any_people = st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=4)


@st.composite
def rotations(draw: st.DrawFn, people: st.SearchStrategy[list[str]] | None = None) -> Rotation:
    kind = draw(st.sampled_from(["daily", "weekly", "biweekly", "hours", "days"]))
    length = 1
    if kind == "hours":
        length = draw(st.sampled_from([1, 2, 3, 4, 5, 6, 7, 8, 12, 24, 36, 48]))
    elif kind == "days":
        length = draw(st.integers(1, 10))
    weekday = draw(st.none() | st.integers(0, 6)) if kind in ("weekly", "biweekly") else None
    return Rotation(
        kind=kind,  # type: ignore[arg-type]
        length=length,
        handoff=draw(wall_times),
        handoff_weekday=weekday,
        start=draw(days_in_range),
        participants=draw(people if people is not None else any_people),
    )


restrictions = st.builds(
    Restriction,
    days=st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True),
    start=wall_times,
    end=wall_times,
)


@st.composite
def layers(draw: st.DrawFn, name: str, *, restricted: bool = True) -> Layer:
    limits = draw(st.lists(restrictions, max_size=2)) if restricted else []
    return Layer(name=name, rotation=draw(rotations()), restrictions=limits)


instants = st.datetimes(EARLIEST.replace(tzinfo=None), LATEST.replace(tzinfo=None)).map(
    lambda naive: naive.replace(tzinfo=UTC)
)


@st.composite
def overrides(draw: st.DrawFn) -> Override:
    start = draw(instants)
    length = draw(st.timedeltas(timedelta(minutes=1), timedelta(days=5)))
    return Override(person=draw(st.sampled_from([*PEOPLE, "zed"])), start=start, end=start + length)


@st.composite
def specs(draw: st.DrawFn, *, covered: bool = False) -> ScheduleSpec:
    count = draw(st.integers(1, 3))
    stack = [draw(layers(f"layer{i}", restricted=not (covered and i == 0))) for i in range(count)]
    if covered:  # a round-the-clock bottom layer that began long before any window
        stack[0] = stack[0].model_copy(
            update={"rotation": stack[0].rotation.model_copy(update={"start": date(2025, 1, 1)})}
        )
    return ScheduleSpec(
        name="prop",
        timezone=draw(st.sampled_from(ZONES)),
        layers=stack,
        overrides=draw(st.lists(overrides(), max_size=3)),
    )


@st.composite
def windows(draw: st.DrawFn) -> tuple[datetime, datetime]:
    start = draw(instants)
    return start, start + draw(st.timedeltas(timedelta(0), timedelta(days=40)))


def merged(shifts: list[Shift]) -> list[Shift]:
    out: list[Shift] = []
    for shift in shifts:
        if out and out[-1].end == shift.start and out[-1].person == shift.person:
            out[-1] = out[-1].model_copy(update={"end": shift.end})
        else:
            out.append(shift)
    return out


def holder(shifts: list[Shift], instant: datetime) -> str | None:
    return next((s.person for s in shifts if s.start <= instant < s.end), None)


@PROPERTY
@given(specs(), windows())
def test_final_shifts_are_sorted_disjoint_maximal_and_inside_the_window(
    spec: ScheduleSpec, window: tuple[datetime, datetime]
) -> None:
    shifts = final_shifts(spec, *window)

    for shift in shifts:
        assert window[0] <= shift.start < shift.end <= window[1]
    for before, after in pairwise(shifts):
        assert before.end <= after.start
        assert not (before.end == after.start and before.person == after.person)


@PROPERTY
@given(specs(covered=True), windows())
def test_with_a_round_the_clock_layer_the_shifts_cover_the_window_exactly(
    spec: ScheduleSpec, window: tuple[datetime, datetime]
) -> None:
    shifts = final_shifts(spec, *window)

    if window[0] == window[1]:
        assert shifts == []
    else:
        assert_contiguous(shifts, *window)


@PROPERTY
@given(specs(), windows(), st.lists(st.floats(0, 1), max_size=20))
def test_on_call_at_agrees_with_final_shifts(
    spec: ScheduleSpec, window: tuple[datetime, datetime], fractions: list[float]
) -> None:
    shifts = final_shifts(spec, *window)
    probes = [window[0] + (window[1] - window[0]) * f for f in fractions]
    probes += [s.start for s in shifts] + [s.end - TICK for s in shifts]
    probes += [s.end for s in shifts]  # the instant after a shift: next shift or a gap
    # Into a shift by up to an hour, where a repeated hour shows earlier wall times.
    probes += [s.start + m * timedelta(minutes=15) for s in shifts for m in (1, 2, 3, 4)]

    for probe in probes:
        if window[0] <= probe < window[1]:
            assert on_call_at(spec, probe) == holder(shifts, probe)


@PROPERTY
@given(specs(), windows(), st.lists(st.floats(0, 1), min_size=1, max_size=20))
def test_the_highest_layer_with_someone_on_call_wins_below_overrides(
    spec: ScheduleSpec, window: tuple[datetime, datetime], fractions: list[float]
) -> None:
    by_layer = [layer_shifts(spec, layer, *window) for layer in reversed(spec.layers)]
    for fraction in fractions:
        probe = window[0] + (window[1] - window[0]) * fraction
        if probe >= window[1]:
            continue
        covering = [o.person for o in spec.overrides if o.start <= probe < o.end]
        from_layers = [holder(shifts, probe) for shifts in by_layer]
        expected = covering[-1] if covering else next((p for p in from_layers if p), None)
        assert on_call_at(spec, probe) == expected


@PROPERTY
@given(specs(), windows(), st.floats(0, 1))
def test_splitting_a_window_changes_nothing(
    spec: ScheduleSpec, window: tuple[datetime, datetime], fraction: float
) -> None:
    middle = min(window[0] + (window[1] - window[0]) * fraction, window[1])
    halves = final_shifts(spec, window[0], middle) + final_shifts(spec, middle, window[1])

    assert merged(halves) == final_shifts(spec, *window)


@PROPERTY
@given(
    rotations(people=st.lists(st.sampled_from(PEOPLE), min_size=2, max_size=4, unique=True)),
    st.sampled_from(ZONES),
    windows(),
)
def test_handoffs_land_on_the_wall_clock_or_keep_their_real_length(
    rotation_: Rotation, zone_name: str, window: tuple[datetime, datetime]
) -> None:
    zone = ZoneInfo(zone_name)
    layer = Layer(name="primary", rotation=rotation_)
    spec = ScheduleSpec(name="prop", timezone=zone_name, layers=[layer])
    shifts = layer_shifts(spec, layer, *window)
    people = rotation_.participants
    wall_clock = rotation_.kind != "hours" or 24 % rotation_.length == 0
    handoff = datetime.combine(date(2000, 1, 1), rotation_.handoff)
    handoff_times = {(handoff + k * rotation_.length * HOUR).time() for k in range(24)}

    for before, after in pairwise(shifts):
        assert before.end == after.start
        next_in_turn = after.person == people[(people.index(before.person) + 1) % len(people)]
        if wall_clock:
            assert handoff_time_shown_or_skipped(after.start, zone, handoff_times)
            # A turn is lost only where two handoffs fall into the same skipped stretch.
            assert next_in_turn or skipped_stretch(after.start, zone) is not None
        else:
            assert next_in_turn
            if after is not shifts[-1]:
                assert real_hours(after) == rotation_.length


def skipped_stretch(instant: datetime, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    """The wall-clock stretch [from, to) the clocks skip at `instant`, if they jump forward then."""
    shown = instant.astimezone(zone).replace(tzinfo=None)
    just_before = (instant - TICK).astimezone(zone).replace(tzinfo=None) + TICK
    return (just_before, shown) if shown > just_before else None


def handoff_time_shown_or_skipped(instant: datetime, zone: ZoneInfo, times: set[time]) -> bool:
    if instant.astimezone(zone).time() in times:
        return True
    stretch = skipped_stretch(instant, zone)
    if stretch is None:
        return False
    days = {stretch[0].date(), stretch[1].date()}
    return any(stretch[0] <= datetime.combine(d, t) < stretch[1] for d in days for t in times)


def reference_holder(rotation_: Rotation, zone: ZoneInfo, instant: datetime) -> str | None:
    """An independent oracle for day-based rotations: find the latest handoff day by hand.

    Skipped times are found by walking the wall clock forward a minute at a time.
    """
    step_days = {"daily": 1, "weekly": 7, "biweekly": 14}.get(rotation_.kind, rotation_.length)
    epoch = rotation_.start
    if rotation_.handoff_weekday is not None:
        epoch -= timedelta(days=(epoch.weekday() - rotation_.handoff_weekday) % 7)
    if instant < minute_walk(datetime.combine(rotation_.start, rotation_.handoff), zone):
        return None
    day = instant.astimezone(zone).date() + timedelta(days=1)
    while (day - epoch).days % step_days or minute_walk(
        datetime.combine(day, rotation_.handoff), zone
    ) > instant:
        day -= timedelta(days=1)
    turn = (day - epoch).days // step_days
    return rotation_.participants[turn % len(rotation_.participants)]


def minute_walk(wall: datetime, zone: ZoneInfo) -> datetime:
    while (instant := wall.replace(tzinfo=zone)).astimezone(UTC).astimezone(zone).replace(
        tzinfo=None
    ) != wall:
        wall += timedelta(minutes=1)
    return instant.astimezone(UTC)


@PROPERTY
@given(
    rotations().filter(lambda r: r.kind != "hours"),
    st.sampled_from(ZONES),
    st.lists(instants, min_size=1, max_size=10),
)
def test_day_based_rotations_match_a_hand_counted_oracle(
    rotation_: Rotation, zone_name: str, probes: list[datetime]
) -> None:
    spec = ScheduleSpec(
        name="prop", timezone=zone_name, layers=[Layer(name="primary", rotation=rotation_)]
    )
    for probe in probes:
        assert on_call_at(spec, probe) == reference_holder(rotation_, ZoneInfo(zone_name), probe)
