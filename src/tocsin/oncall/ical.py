"""On-call shifts as an iCalendar (RFC 5545) feed people can subscribe to.

Pure: the output depends only on the arguments. What a calendar app relies on:

- Every event is a whole shift. `final_shifts` cuts the first and last shift of a window at
  its edges; `whole_shifts` looks past the edges, so a week that began on Monday shows its
  Monday start in a feed whose window opens on Wednesday.
- UID comes from the namespace, the person and the shift's true start, so it is the same on
  every regeneration, and an override that moves the shift's end updates the event in place
  instead of adding a duplicate.
- DTSTAMP is when the feed was generated (RFC 5545, for a calendar with a METHOD).
- SEQUENCE must go up whenever an event's times change and never go down (RFC 5546), or
  apps that honour it keep the old times. Tocsin keeps no history of what it served, and a
  number worked out from the shifts alone would go back down when a change is undone (an
  override added, then removed). So SEQUENCE counts the seconds since `SEQUENCE_EPOCH` at
  generation: every change is seen at a higher number. Unchanged events go up too, which
  RFC 5546 allows and subscribed calendars ignore.
- The ETag (`feed_etag`) covers everything but DTSTAMP and SEQUENCE, so it stays the same
  while the shifts do, and a conditional fetch of an unchanged feed can be answered with 304.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

from tocsin.oncall.rotation import ScheduleSpec, Shift, final_shifts

__all__ = [
    "PRODID",
    "REACH",
    "SEQUENCE_EPOCH",
    "feed_etag",
    "render_ical",
    "sequence_at",
    "shift_uid",
    "whole_shifts",
]

PRODID = "-//Tocsin//On-call schedule//EN"
SEQUENCE_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
# How far past the window to look for a shift's true start or end. A rotation with a single
# participant is one endless shift; the feed shows it up to this far either side.
REACH = timedelta(days=366)
_FIRST_LOOK = timedelta(days=1)


def whole_shifts(spec: ScheduleSpec, start: datetime, end: datetime) -> list[Shift]:
    """The shifts meeting [start, end), the first and last with their true boundaries."""
    shifts = final_shifts(spec, start, end)
    if shifts and shifts[0].start == start:
        shifts[0] = _whole(spec, shifts[0])
    if shifts and shifts[-1].end == end:
        shifts[-1] = _whole(spec, shifts[-1])
    return shifts


def _whole(spec: ScheduleSpec, part: Shift) -> Shift:
    """The shift that `part` was cut from: final_shifts over a view widened until it shows
    both ends (doubling, so a week-long shift takes a few small looks, not a year's worth)."""
    margin = _FIRST_LOOK
    while True:
        view_start, view_end = part.start - margin, part.end + margin
        around = final_shifts(spec, view_start, view_end)
        whole = next(s for s in around if s.start <= part.start < s.end)
        if (view_start < whole.start and whole.end < view_end) or margin >= REACH:
            return whole
        margin = min(margin * 2, REACH)


def shift_uid(uid_namespace: str, shift: Shift, occurrence: int = 0) -> str:
    """A UID that stays the same across renders for the same person starting at the same time.

    `occurrence` tells apart shifts that share a person and a start (a personal feed where
    the person is on call in two schedules at once); the first keeps the plain UID.
    """
    parts: list[str | int] = [uid_namespace, shift.person, shift.start.isoformat()]
    key = json.dumps([*parts, occurrence] if occurrence else parts)
    return f"{uuid.uuid5(uuid.NAMESPACE_URL, 'tocsin:shift:' + key)}@tocsin"


def sequence_at(generated_at: datetime) -> int:
    """The SEQUENCE of every event in a feed generated at `generated_at`.

    Whole seconds: it stays within the 32-bit integers calendar apps parse until 2088.
    """
    return max(0, int((generated_at - SEQUENCE_EPOCH).total_seconds()))


def render_ical(
    shifts: Sequence[Shift],
    *,
    calendar_name: str,
    uid_namespace: str,
    generated_at: datetime,
) -> bytes:
    """A VCALENDAR with one VEVENT per shift, in UTC, generated at `generated_at`.

    With no shifts the calendar has no events: RFC 5545 asks for at least one component, but
    every client we know reads an empty feed as "nothing scheduled", which is the truth.
    """
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", calendar_name)
    seen: Counter[tuple[str, datetime]] = Counter()
    for shift in shifts:
        occurrence = seen[shift.person, shift.start]
        seen[shift.person, shift.start] += 1
        uid = shift_uid(uid_namespace, shift, occurrence)
        calendar.add_component(_event(shift, uid, generated_at))
    feed: bytes = calendar.to_ical()
    return feed


def feed_etag(shifts: Sequence[Shift], *, calendar_name: str, uid_namespace: str) -> str:
    """A weak ETag for the feed: the same whenever it is generated, as long as the shifts are.

    Weak, because the bytes differ between generations (DTSTAMP, SEQUENCE) while the
    calendar they describe does not.
    """
    unstamped = render_ical(
        shifts,
        calendar_name=calendar_name,
        uid_namespace=uid_namespace,
        generated_at=SEQUENCE_EPOCH,
    )
    return f'W/"{hashlib.sha256(unstamped).hexdigest()[:32]}"'


def _event(shift: Shift, uid: str, generated_at: datetime) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", generated_at.astimezone(UTC))
    event.add("sequence", sequence_at(generated_at))
    event.add("dtstart", shift.start)
    event.add("dtend", shift.end)
    event.add("summary", f"On call: {shift.person} ({shift.layer})")
    # Being on call is not being busy: keep free/busy lookups from blocking the whole week.
    event.add("transp", "TRANSPARENT")
    return event
