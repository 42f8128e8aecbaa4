"""On-call shifts as an iCalendar (RFC 5545) feed people can subscribe to.

Pure: the output depends only on the arguments, so the same shifts always render the same
bytes (a feed can be cached and compared). Each event's UID comes from the namespace, the
person and the start, so a calendar app updates an event in place when an override or a
longer window moves its end, instead of showing a duplicate.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from icalendar import Calendar, Event

from tocsin.oncall.rotation import Shift

__all__ = ["PRODID", "render_ical", "shift_uid"]

PRODID = "-//Tocsin//On-call schedule//EN"


def shift_uid(uid_namespace: str, shift: Shift, occurrence: int = 0) -> str:
    """A UID that stays the same across renders for the same person starting at the same time.

    `occurrence` tells apart shifts that share a person and a start (a personal feed where
    the person is on call in two schedules at once); the first keeps the plain UID.
    """
    parts: list[str | int] = [uid_namespace, shift.person, shift.start.isoformat()]
    key = json.dumps([*parts, occurrence] if occurrence else parts)
    return f"{uuid.uuid5(uuid.NAMESPACE_URL, 'tocsin:shift:' + key)}@tocsin"


def render_ical(
    shifts: Sequence[Shift],
    *,
    calendar_name: str,
    uid_namespace: str,
    stamp: datetime | None = None,
) -> bytes:
    """A VCALENDAR with one VEVENT per shift, in UTC.

    `stamp` is the DTSTAMP of every event, normally the injected clock's "now". Without it each
    event is stamped with its own start, which keeps the output deterministic. With no shifts
    the calendar has no events: RFC 5545 asks for at least one component, but every client we
    know reads an empty feed as "nothing scheduled", which is the truth.
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
        calendar.add_component(_event(shift, uid, stamp or shift.start))
    feed: bytes = calendar.to_ical()
    return feed


def _event(shift: Shift, uid: str, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", shift.start)
    event.add("dtend", shift.end)
    event.add("summary", f"On call: {shift.person} ({shift.layer})")
    # Being on call is not being busy: keep free/busy lookups from blocking the whole week.
    event.add("transp", "TRANSPARENT")
    return event
