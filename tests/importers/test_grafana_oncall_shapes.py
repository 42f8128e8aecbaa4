"""How each kind of Grafana OnCall shift maps onto a Tocsin rotation, or why not (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from tocsin.importers import grafana_oncall
from tocsin.importers.grafana_oncall import Shape, shape, shift_zone
from tocsin.oncall.config import OnCallConfig

NOW = datetime(2026, 10, 22, tzinfo=UTC)


def shift(**fields: Any) -> dict[str, Any]:
    base = {
        "id": "OSHIFT0000001",
        "name": "Rota",
        "type": "rolling_users",
        "start": "2026-10-05T09:00:00",
        "duration": 86400,
        "frequency": "daily",
        "interval": 1,
        "by_day": None,
        "by_month": None,
        "by_monthday": None,
        "week_start": "MO",
        "rolling_users": [["U1"], ["U2"]],
        "start_rotation_from_user_index": 0,
        "level": 0,
        "time_zone": None,
    }
    return base | fields


def test_a_continuous_daily_rotation() -> None:
    found = shape(shift(), 2)
    assert isinstance(found, Shape)
    assert (found.kind, found.length, found.start.time(), found.restrictions) == (
        "daily",
        1,
        time(9),
        (),
    )


def test_a_night_shift_is_a_window_every_day() -> None:
    found = shape(shift(start="2026-10-05T19:00:00", duration=12 * 3600), 2)
    assert isinstance(found, Shape)
    assert [(r.days, r.start, r.end) for r in found.restrictions] == [
        ([0, 1, 2, 3, 4, 5, 6], time(19), time(0)),
        ([0, 1, 2, 3, 4, 5, 6], time(0), time(7)),
    ]


def test_every_two_weeks_continuously_is_biweekly() -> None:
    found = shape(shift(frequency="weekly", interval=2, duration=14 * 86400), 3)
    assert isinstance(found, Shape)
    assert (found.kind, found.handoff_weekday, found.restrictions) == ("biweekly", 0, ())


def test_weekdays_every_week_hand_over_at_the_week_start() -> None:
    found = shape(shift(frequency="weekly", by_day=["MO", "TU"], duration=8 * 3600), 3)
    assert isinstance(found, Shape)
    assert (found.kind, found.handoff_weekday) == ("weekly", 0)
    assert [(r.days, r.start, r.end) for r in found.restrictions] == [([0, 1], time(9), time(17))]


def test_a_start_off_the_chosen_days_moves_to_the_first_of_them() -> None:
    # 2026-10-07 is a Wednesday; the first chosen day from Sunday (the week start) is Saturday.
    found = shape(
        shift(start="2026-10-07T10:00:00", frequency="weekly", by_day=["SA"], week_start="SU"), 2
    )
    assert isinstance(found, Shape)
    assert found.start == datetime(2026, 10, 10, 10, 0)


def test_what_tocsin_rotations_cannot_count_is_said() -> None:
    every_third_week = shape(shift(frequency="weekly", interval=3, duration=3 * 7 * 86400), 2)
    weekday_turns = shape(shift(by_day=["MO", "WE", "FR"], duration=3600), 3)
    monthly = shape(shift(frequency="monthly"), 2)
    # OnCall repeats each group's event every 2 x 3 weeks: the second week of a turn is empty.
    first_week_only = shape(shift(frequency="weekly", interval=2, by_day=["MO"], duration=3600), 3)
    assert isinstance(every_third_week, str) and "every 3 weeks" in every_third_week
    assert isinstance(weekday_turns, str) and "day by day on the chosen weekdays" in weekday_turns
    assert isinstance(monthly, str) and "monthly" in monthly
    assert isinstance(first_week_only, str) and "first week of each" in first_week_only


def test_where_a_shift_is_expanded() -> None:
    calendar = {"type": "calendar", "time_zone": "Europe/Berlin"}
    web = {"type": "web", "time_zone": "Europe/Berlin"}
    assert shift_zone(shift(), calendar) == "Europe/Berlin"
    assert shift_zone(shift(), web) == "UTC"
    assert shift_zone(shift(time_zone="America/New_York"), web) == "America/New_York"


def test_turns_of_several_people_are_left_out() -> None:
    source = grafana_oncall.Source(
        users=[
            {"id": "U1", "email": "a@example.com", "username": "a", "teams": []},
            {"id": "U2", "email": "b@example.com", "username": "b", "teams": []},
        ],
        schedules=[{"id": "S1", "name": "Pair", "type": "web", "shifts": ["OSHIFT0000001"]}],
        shifts={"OSHIFT0000001": shift(rolling_users=[["U1", "U2"]], schedule="S1")},
    )
    imported = grafana_oncall.mapped(source, OnCallConfig(), NOW)
    reasons = [item.why for item in imported.left_out]
    assert any("several people (or nobody) on call at once" in r for r in reasons)
    assert any("none of its rotations could be imported" in r for r in reasons)
    assert imported.config.schedules == []
