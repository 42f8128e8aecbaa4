"""The iCalendar feed: render shifts, parse them back, and check what a calendar app would see."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import assume, given
from icalendar import Calendar, Event

from tests.unit.test_rotation import PROPERTY, specs, windows
from tocsin.oncall.ical import PRODID, REACH, feed_etag, render_ical, whole_shifts
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
GENERATED = datetime(2026, 3, 1, 12, tzinfo=UTC)


def spec(*overrides: Override) -> ScheduleSpec:
    return ScheduleSpec(
        name="payments", timezone="Europe/London", layers=[WEEKLY], overrides=list(overrides)
    )


def events(feed: bytes) -> list[Event]:
    return list(Calendar.from_ical(feed).walk("VEVENT"))


def uids(feed: bytes) -> list[str]:
    return [str(event["UID"]) for event in events(feed)]


def render(shifts: list[Shift], generated_at: datetime = GENERATED) -> bytes:
    return render_ical(
        shifts,
        calendar_name="Payments on call",
        uid_namespace="sched-42",
        generated_at=generated_at,
    )


def etag(shifts: list[Shift], uid_namespace: str = "sched-42") -> str:
    return feed_etag(shifts, calendar_name="Payments on call", uid_namespace=uid_namespace)


def times(event: Event) -> tuple[datetime, datetime]:
    return event.decoded("DTSTART"), event.decoded("DTEND")


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
    assert uids(render(shifts, GENERATED + timedelta(days=3))) == uids(render(shifts))


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
    other = render_ical(
        shifts, calendar_name="Payments on call", uid_namespace="sched-43", generated_at=GENERATED
    )

    assert not set(uids(other)) & set(uids(render(shifts)))


def test_dtstamp_is_when_the_feed_was_generated() -> None:
    shifts = final_shifts(spec(), START, END)
    later = datetime(2026, 3, 20, 7, 30, tzinfo=UTC)

    assert {e.decoded("DTSTAMP") for e in events(render(shifts))} == {GENERATED}
    assert {e.decoded("DTSTAMP") for e in events(render(shifts, later))} == {later}


def test_a_shift_an_override_moves_keeps_its_uid_and_gets_a_higher_sequence() -> None:
    # Dev covers the last day of ana's first week: her event ends a day early, same UID.
    cover = Override(person="dev", start=START + timedelta(days=6), end=START + timedelta(days=7))
    before = events(render(final_shifts(spec(), START, END)))[0]
    moved = events(render(final_shifts(spec(cover), START, END), GENERATED + timedelta(minutes=5)))
    # The override is removed again: her week is whole again, and that is news too.
    undone = events(render(final_shifts(spec(), START, END), GENERATED + timedelta(minutes=9)))[0]

    assert moved[0]["UID"] == before["UID"] == undone["UID"]
    assert times(moved[0]) == (START, START + timedelta(days=6))
    assert times(undone) == times(before) == (START, START + timedelta(days=7))
    assert before["SEQUENCE"] < moved[0]["SEQUENCE"] < undone["SEQUENCE"]


def test_the_etag_follows_the_shifts_not_the_time_of_generation() -> None:
    shifts = final_shifts(spec(), START, END)
    cover = Override(person="dev", start=START + timedelta(days=6), end=START + timedelta(days=7))

    assert etag(shifts).startswith('W/"')
    assert etag(shifts) == etag(list(final_shifts(spec(), START, END)))
    assert etag(final_shifts(spec(cover), START, END)) != etag(shifts)
    assert etag(shifts, uid_namespace="sched-43") != etag(shifts)


def test_text_that_needs_escaping_round_trips() -> None:
    shift = Shift(person="o'neil, jo; sre", start=START, end=END, layer="primary")
    feed = render_ical(
        [shift], calendar_name="Ops, EU; nights", uid_namespace="n", generated_at=GENERATED
    )
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


# -- whole shifts -------------------------------------------------------------------------------

WEDNESDAY = datetime(2026, 3, 4, tzinfo=UTC)


def test_shifts_cut_by_the_window_appear_whole() -> None:
    window = (WEDNESDAY, WEDNESDAY + timedelta(weeks=2))

    shifts = whole_shifts(spec(), *window)

    # London is on GMT until 29 March: the Monday 09:00 handoffs are at 09:00 UTC.
    assert [(s.person, s.start, s.end) for s in shifts] == [
        ("ana", START, START + timedelta(weeks=1)),
        ("ben", START + timedelta(weeks=1), START + timedelta(weeks=2)),
        ("cho", START + timedelta(weeks=2), START + timedelta(weeks=3)),
    ]
    assert final_shifts(spec(), *window)[0].start == WEDNESDAY  # what the feed used to say


def test_a_shift_keeps_its_uid_whichever_day_the_feed_is_made() -> None:
    made_on = [WEDNESDAY + timedelta(days=n) for n in range(5)]  # to Sunday, in ana's week
    feeds = [render(whole_shifts(spec(), day, day + timedelta(weeks=4))) for day in made_on]

    assert len({uids(feed)[0] for feed in feeds}) == 1
    assert {times(events(feed)[0]) for feed in feeds} == {(START, START + timedelta(weeks=1))}


def test_a_long_override_across_the_window_edge_appears_whole() -> None:
    cover = Override(person="dev", start=START - timedelta(days=10), end=START + timedelta(days=3))

    [first, *_] = whole_shifts(spec(cover), WEDNESDAY - timedelta(days=1), WEDNESDAY)

    assert (first.person, first.layer) == ("dev", "override")
    assert (first.start, first.end) == (cover.start, cover.end)


def test_an_endless_shift_is_shown_from_its_start_to_a_year_past_the_window() -> None:
    alone = Layer(
        name="solo", rotation=Rotation(kind="weekly", start=date(2026, 3, 2), participants=["ana"])
    )
    solo = ScheduleSpec(name="solo", timezone="Europe/London", layers=[alone])
    window = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 8, tzinfo=UTC))

    [shift] = whole_shifts(solo, *window)

    assert (shift.start, shift.end) == (START, window[1] + REACH)


@PROPERTY
@given(specs(), windows())
def test_whole_shifts_are_the_shifts_of_a_wider_window_that_meet_this_one(
    spec: ScheduleSpec, window: tuple[datetime, datetime]
) -> None:
    start, end = window
    assume(start < end)
    wider = final_shifts(spec, start - REACH, end + REACH)

    assert whole_shifts(spec, start, end) == [s for s in wider if s.end > start and s.start < end]
