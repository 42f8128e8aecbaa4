"""The iCalendar feed: render shifts, parse them back, and check what a calendar app would see."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from icalendar import Calendar, Event

from tocsin.oncall.ical import PRODID, render_ical
from tocsin.oncall.rotation import (
    Layer,
    Override,
    Rotation,
    ScheduleSpec,
    Shift,
    final_shifts,
)

WEEKLY = Layer(
    name="primary",
    rotation=Rotation(kind="weekly", start=date(2026, 3, 2), participants=["ana", "ben", "cho"]),
)
START = datetime(2026, 3, 2, 9, tzinfo=UTC)
END = datetime(2026, 4, 6, 8, tzinfo=UTC)


def spec(*overrides: Override) -> ScheduleSpec:
    return ScheduleSpec(
        name="payments", timezone="Europe/London", layers=[WEEKLY], overrides=list(overrides)
    )


def events(feed: bytes) -> list[Event]:
    return list(Calendar.from_ical(feed).walk("VEVENT"))


def uids(feed: bytes) -> list[str]:
    return [str(event["UID"]) for event in events(feed)]


def render(shifts: list[Shift]) -> bytes:
    return render_ical(shifts, calendar_name="Payments on call", uid_namespace="sched-42")


def test_the_feed_is_a_calendar_with_one_event_per_shift() -> None:
    cover = Override(
        person="dev", start=datetime(2026, 3, 11, tzinfo=UTC), end=datetime(2026, 3, 12, tzinfo=UTC)
    )
    shifts = final_shifts(spec(cover), START, END)
    calendar = Calendar.from_ical(render(shifts))

    calendar.validate()
    assert calendar["PRODID"] == PRODID
    assert calendar["VERSION"] == "2.0"
    assert calendar["X-WR-CALNAME"] == "Payments on call"
    parsed = [
        (str(e["SUMMARY"]), e.decoded("DTSTART"), e.decoded("DTEND"))
        for e in calendar.walk("VEVENT")
    ]
    assert parsed == [(f"On call: {s.person} ({s.layer})", s.start, s.end) for s in shifts]
    assert "On call: dev (override)" in [summary for summary, _, _ in parsed]
    assert all(not e.decoded("DTSTART").utcoffset() for e in calendar.walk("VEVENT"))
    assert all("DTSTAMP" in event for event in calendar.walk("VEVENT"))


def test_times_are_written_in_utc() -> None:
    feed = render(final_shifts(spec(), START, END))

    assert b"DTSTART:20260302T090000Z" in feed
    assert b"DTEND:20260309T090000Z" in feed
    assert b"DTSTART:20260330T080000Z" in feed  # 09:00 BST, after the clocks went forward


def test_uids_are_unique_and_the_same_on_every_render() -> None:
    shifts = final_shifts(spec(), START, END)

    assert render(shifts) == render(shifts)
    assert len(set(uids(render(shifts)))) == len(shifts)


def test_a_uid_survives_its_shift_changing_length() -> None:
    before = render(final_shifts(spec(), START, END))
    # An override at the end of ana's week shortens her shift; her event keeps its UID.
    cover = Override(person="dev", start=datetime(2026, 3, 8, tzinfo=UTC), end=START + timedelta(7))
    after = render(final_shifts(spec(cover), START, END))
    longer = render(final_shifts(spec(), START, END + timedelta(weeks=4)))

    assert uids(after)[0] == uids(before)[0]
    assert events(after)[0].decoded("DTEND") == datetime(2026, 3, 8, tzinfo=UTC)
    assert uids(longer)[: len(uids(before))] == uids(before)


def test_another_namespace_gives_other_uids() -> None:
    shifts = final_shifts(spec(), START, END)
    other = render_ical(shifts, calendar_name="Payments on call", uid_namespace="sched-43")

    assert not set(uids(other)) & set(uids(render(shifts)))


def test_dtstamp_is_the_stamp_given_or_else_the_shift_start() -> None:
    shifts = final_shifts(spec(), START, END)
    stamp = datetime(2026, 3, 1, 12, tzinfo=UTC)
    stamped = render_ical(shifts, calendar_name="x", uid_namespace="n", stamp=stamp)

    assert {e.decoded("DTSTAMP") for e in events(stamped)} == {stamp}
    assert [e.decoded("DTSTAMP") for e in events(render(shifts))] == [s.start for s in shifts]


def test_text_that_needs_escaping_round_trips() -> None:
    shift = Shift(person="o'neil, jo; sre", start=START, end=END, layer="primary")
    feed = render_ical([shift], calendar_name="Ops, EU; nights", uid_namespace="n")
    calendar = Calendar.from_ical(feed)

    assert calendar["X-WR-CALNAME"] == "Ops, EU; nights"
    assert events(feed)[0]["SUMMARY"] == "On call: o'neil, jo; sre (primary)"


def test_one_person_in_two_schedules_at_once_gets_two_distinct_events() -> None:
    twice = [
        Shift(person="ana", start=START, end=END, layer="primary"),
        Shift(person="ana", start=START, end=END - timedelta(days=1), layer="primary"),
    ]
    feed = render(twice)

    assert len(set(uids(feed))) == 2
    assert uids(feed)[0] == uids(render(twice[:1]))[0]
    assert uids(feed) == uids(render(twice))


def test_no_shifts_render_a_calendar_without_events() -> None:
    calendar = Calendar.from_ical(render([]))

    assert calendar["PRODID"] == PRODID
    assert list(calendar.walk("VEVENT")) == []
