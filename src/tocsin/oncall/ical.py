"""On-call shifts as an iCalendar (RFC 5545) feed people can subscribe to.

Pure: the output depends only on the arguments, so the same shifts always render the same
bytes (a feed can be cached and compared). Each event's UID comes from the namespace, the
person and the start, so a calendar app updates an event in place when an override or a
longer window moves its end, instead of showing a duplicate.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime

from icalendar import Calendar, Event

from tocsin.errors import InvalidInput
from tocsin.oncall.rotation import Shift

__all__ = ["PRODID", "render_ical", "shift_uid"]

PRODID = "-//Tocsin//On-call schedule//EN"


def shift_uid(uid_namespace: str, shift: Shift) -> str:
    """A UID that stays the same across renders for the same person starting at the same time."""
    key = json.dumps([uid_namespace, shift.person, shift.start.isoformat()])
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
    event is stamped with its own start, which keeps the output deterministic.
    """
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", calendar_name)
    seen: set[str] = set()
    for shift in shifts:
        uid = shift_uid(uid_namespace, shift)
        if uid in seen:
            raise InvalidInput(
                f"two shifts for {shift.person} start at {shift.start.isoformat()}; "
                "render one schedule's final shifts per calendar",
                field="shifts",
            )
        seen.add(uid)
        calendar.add_component(_event(shift, uid, stamp or shift.start))
    return calendar.to_ical()


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
