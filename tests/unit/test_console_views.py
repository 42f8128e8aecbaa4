"""Pure pieces of the console's views: the one escalation ladder, the phase checklist, the
on-call week in a zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from tocsin.incidents.checklist import PhaseList, current, items_of
from tocsin.incidents.schemas import ClockOut
from tocsin.oncall.rotation import Shift
from tocsin.policy.schema import Phase
from tocsin.web.console.oncall import _pieces, days_of_week, monday_of
from tocsin.web.console.pages import parse_instant
from tocsin.web.console.room import ladder

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def step(key: str, minutes: int, targets: list[str], state: str = "pending") -> ClockOut:
    return ClockOut(
        kind="escalation",
        key=key,
        due_at=T0 + timedelta(minutes=minutes),
        state=state,
        action="escalate",
        label=key,
        targets=targets,
    )


def test_two_ladders_due_together_are_one_rung_each_instant() -> None:
    steps = [
        step("escalation:P1:unack:1", 0, ["on_call_engineer"], "fired"),
        step("page:1:1", 0, ["schedule:primary"], "fired"),
        step("escalation:P1:unack:2", 15, ["engineering_manager"]),
        step("page:1:2", 15, ["person:carol"]),
        step("page:2:1", 25, ["schedule:primary"]),
    ]
    rungs = ladder(steps)
    assert [(r.due_at - T0, r.state) for r in rungs] == [
        (timedelta(0), "fired"),
        (timedelta(minutes=15), "pending"),
        (timedelta(minutes=25), "pending"),
    ]
    assert rungs[1].targets == ["engineering_manager", "person:carol"]


def test_a_phase_lists_its_own_items_then_each_steps_and_a_bare_step_is_an_item() -> None:
    phase = Phase.model_validate(
        {
            "id": "detection",
            "name": "Detection",
            "checklist": ["Page the on-call"],
            "steps": [
                {"name": "Triage", "checklist": ["Classify severity", "Open a channel"]},
                {"name": "Assign roles"},
            ],
        }
    )
    items = items_of(phase)
    assert [(i.key, i.text, i.step) for i in items] == [
        ("detection/1", "Page the on-call", None),
        ("detection/2", "Classify severity", "Triage"),
        ("detection/3", "Open a channel", "Triage"),
        ("detection/4", "Assign roles", "Assign roles"),
    ]


def test_the_current_phase_is_the_first_with_something_left() -> None:
    first = Phase.model_validate({"id": "a", "name": "A", "checklist": ["x"]})
    second = Phase.model_validate({"id": "b", "name": "B", "checklist": ["y"]})
    done = [i.__class__(i.key, i.text, i.step, "alice", T0) for i in items_of(first)]
    lists = [PhaseList(first, 1, 2, done), PhaseList(second, 2, 2, items_of(second))]
    assert current(lists) is lists[1]
    assert current(lists, "a") is lists[0], "a phase asked for by id"
    assert current([]) is None


SYDNEY = ZoneInfo("Australia/Sydney")


def test_a_week_with_a_dst_change_has_a_23_hour_day_running_midnight_to_midnight() -> None:
    # Sydney moves its clocks forward at 02:00 on Sunday 4 October 2026.
    monday = monday_of("", datetime(2026, 10, 1, 3, 0, tzinfo=UTC), SYDNEY)
    days = days_of_week(monday, SYDNEY)
    assert monday == date(2026, 9, 28)
    assert [day.hours for day in days] == [24, 24, 24, 24, 24, 24, 23]
    assert days[0].start == datetime(2026, 9, 27, 14, tzinfo=UTC)  # 00:00 AEST, UTC+10
    assert days[6].end == datetime(2026, 10, 4, 13, tzinfo=UTC)  # 00:00 AEDT, UTC+11
    shift = Shift(person="alice", start=days[6].start, end=days[6].end, layer="a")
    [piece] = _pieces([shift], days[6], SYDNEY)
    assert (piece.start, piece.end) == ("00:00", "24:00")


def test_the_monday_is_the_zones_monday_not_utcs() -> None:
    sunday_evening_utc = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)  # Monday 07:00 in Sydney
    assert monday_of("", sunday_evening_utc, SYDNEY) == date(2026, 11, 23)
    assert monday_of("", sunday_evening_utc, UTC) == date(2026, 11, 16)


def test_a_form_time_without_an_offset_is_read_in_the_zone_given() -> None:
    assert parse_instant("2026-10-04T09:00", "start", SYDNEY) == datetime(
        2026, 10, 3, 22, tzinfo=UTC
    )
    assert parse_instant("2026-10-04T09:00", "start") == datetime(2026, 10, 4, 9, tzinfo=UTC)
