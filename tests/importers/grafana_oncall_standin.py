"""Grafana OnCall's public HTTP API as documented, answered from tests/fixtures/grafana_oncall.json.

Lists page five at a time (`next` is an absolute link, `null` on the last page), the first
request for the team list is refused with 429 and `Retry-After: 0`, and every request must carry
`Authorization: <token>`.

`final_shifts` is not in the fixture: it is worked out here from the fixture's shifts the way
OnCall's engine does, independently of Tocsin's rotation code (so `tocsin import verify`
compares two different calculations):
- each rotation (`rolling_users`) gives every group of users one iCalendar event: its first
  start is that group's turn (the next turn starts a day, or at the next week start, after the
  previous one), and it repeats with the rule's interval times the number of groups;
- occurrences start on the wall clock of the shift's zone (its own, else a `calendar`
  schedule's, else UTC) and last exactly as long as that group's first event (RFC 5545: "the same
  exact duration will apply to all the members of the generated recurrence set"), which is why
  OnCall's continuous rotations have a gap, or two people at once, at a DST change;
- overrides beat every rotation, higher levels beat lower ones, and events at one level are
  not cut by each other (everyone on call at that level is paged).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule

from tests.importers.standin import Reply, Request

FIXTURE = Path(__file__).parent.parent / "fixtures" / "grafana_oncall.json"
TOKEN = "c1f0e6d4b8a24f7d9e3b5a7c2d4e6f80"
PAGE = 5
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
FREQUENCIES = {"hourly": rrule.HOURLY, "daily": rrule.DAILY, "weekly": rrule.WEEKLY}
Json = dict[str, Any]


class GrafanaOnCall:
    def __init__(self, org: Json | None = None, *, user_token: bool = True) -> None:
        self.org: Json = org or json.loads(FIXTURE.read_text())
        self.throttled = False
        # Personal notification rules are answered to user tokens only, not service accounts.
        self.user_token = user_token
        self.lists: dict[str, Callable[[Request], list[Json]]] = {
            "users": lambda r: self.org["users"],
            "teams": lambda r: self.org["teams"],
            "personal_notification_rules": lambda r: self.filtered(
                r, "personal_notification_rules", "user_id"
            ),
            "schedules": lambda r: self.org["schedules"],
            "on_call_shifts": lambda r: self.filtered(r, "on_call_shifts", "schedule"),
            "escalation_chains": lambda r: self.org["escalation_chains"],
            "escalation_policies": lambda r: self.filtered(
                r, "escalation_policies", "escalation_chain_id"
            ),
            "integrations": lambda r: self.org["integrations"],
            "routes": lambda r: self.filtered(r, "routes", "integration_id"),
        }

    def __call__(self, request: Request) -> Reply:
        if request.headers.get("authorization") != TOKEN:
            return Reply(401, {"detail": "Invalid token."})
        parts = request.path.strip("/").split("/")
        if parts[:2] != ["api", "v1"]:
            return Reply(404, {"detail": "Not found."})
        if len(parts) == 5 and parts[2] == "schedules" and parts[4] == "final_shifts":
            return self.final_shifts(request, parts[3])
        if len(parts) == 3 and parts[2] in self.lists:
            return self.listed(request, parts[2])
        return Reply(404, {"detail": "Not found."})

    def filtered(self, request: Request, collection: str, key: str) -> list[Json]:
        wanted = request.param({"schedule": "schedule_id"}.get(key, key))
        items: list[Json] = self.org[collection]
        return [i for i in items if not wanted or i.get(key) == wanted]

    def listed(self, request: Request, collection: str) -> Reply:
        if collection == "personal_notification_rules" and not self.user_token:
            return Reply(403, {"detail": "You do not have permission to perform this action."})
        if collection == "teams" and not self.throttled:
            self.throttled = True
            return Reply(429, {"detail": "Request was throttled."}, {"Retry-After": "0"})
        items = self.lists[collection](request)
        page = int(request.param("page", "1"))
        chunk = items[(page - 1) * PAGE : page * PAGE]
        pages = max(1, -(-len(items) // PAGE))
        link = f"{request.base}{request.path}?page={{}}"
        body = {
            "count": len(items),
            "next": link.format(page + 1) if page < pages else None,
            "previous": link.format(page - 1) if page > 1 else None,
            "results": chunk,
            "current_page_number": page,
            "page_size": PAGE,
            "total_pages": pages,
        }
        return Reply(200, body)

    def final_shifts(self, request: Request, schedule_id: str) -> Reply:
        schedule = next((s for s in self.org["schedules"] if s["id"] == schedule_id), None)
        if schedule is None:
            return Reply(404, {"detail": "Not found."})
        try:
            start, end = (_date_param(request, name) for name in ("start_date", "end_date"))
        except ValueError as error:
            return Reply(400, {str(error): ["This field is required in one of the formats."]})
        users = {u["id"]: u for u in self.org["users"]}
        rows = [
            {
                "user_pk": user,
                "user_email": users[user]["email"],
                "user_username": users[user]["username"],
                "shift_start": _iso(max(event.start, start)),
                "shift_end": _iso(min(event.end, end)),
            }
            for event in final_events(schedule, self.shifts_of(schedule), start, end)
            for user in event.users
        ]
        body = {"count": len(rows), "next": None, "previous": None, "results": rows}
        return Reply(200, body | {"current_page_number": 1, "page_size": 50, "total_pages": 1})

    def shifts_of(self, schedule: Json) -> list[Json]:
        ids = set(schedule.get("shifts") or [])
        return [s for s in self.org["on_call_shifts"] if s["id"] in ids]


def _date_param(request: Request, name: str) -> datetime:
    value = request.param(name)
    for layout in ("%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(name)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- OnCall's schedule engine, as its source and documentation describe it ----------------------


@dataclass(frozen=True)
class Event:
    start: datetime
    end: datetime
    users: tuple[str, ...]
    rank: int  # overrides above every level


OVERRIDE_RANK = 10_000


def final_events(schedule: Json, shifts: list[Json], start: datetime, end: datetime) -> list[Event]:
    events = [e for shift in shifts for e in shift_events(schedule, shift, end)]
    return resolve([e for e in events if e.end > start and e.start < end])


def zone_of(schedule: Json, shift: Json) -> ZoneInfo:
    zone = shift.get("time_zone")
    if not zone and schedule.get("type") == "calendar":
        zone = schedule.get("time_zone")
    return ZoneInfo(zone or "UTC")


def _local(wall: datetime, zone: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=zone).astimezone(UTC)


def shift_events(schedule: Json, shift: Json, until: datetime) -> list[Event]:
    zone = zone_of(schedule, shift)
    start = datetime.fromisoformat(shift["start"])
    duration = timedelta(seconds=shift["duration"])
    if shift["type"] in ("override", "single_event"):
        rank = OVERRIDE_RANK if shift["type"] == "override" else shift.get("level") or 0
        ends = _local(start + duration, zone)
        return [Event(_local(start, zone), ends, tuple(shift["users"]), rank)]
    groups = _groups(shift)
    firsts = [_first_start(shift, start)]
    while len(firsts) < len(groups):
        firsts.append(_next_turn(shift, firsts[-1]))
    horizon = until.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
    return [
        event
        for group, first in zip(groups, firsts, strict=True)
        for event in _group_events(shift, zone, group, first, duration, len(groups), horizon)
    ]


def _groups(shift: Json) -> list[list[str]]:
    if shift["type"] == "recurrent_event":
        return [shift["users"]]
    groups: list[list[str]] = shift["rolling_users"]
    first = shift.get("start_rotation_from_user_index") or 0
    return groups[first:] + groups[:first]


def _rule(shift: Json, first: datetime, interval: int) -> rrule.rrule:
    by_day = [getattr(rrule, day) for day in shift.get("by_day") or []]
    week_start = getattr(rrule, shift.get("week_start") or "SU")
    if shift["frequency"] == "daily" and by_day:
        raise NotImplementedError("daily shifts on chosen weekdays are not in the fixture")
    return rrule.rrule(
        FREQUENCIES[shift["frequency"]],
        dtstart=first,
        interval=interval,
        byweekday=by_day or None,
        wkst=week_start,
        until=datetime.fromisoformat(shift["until"]) if shift.get("until") else None,
    )


def _first_start(shift: Json, start: datetime) -> datetime:
    days = [DAYS.index(d) for d in shift.get("by_day") or []]
    if days and start.weekday() not in days:
        week_start = DAYS.index(shift.get("week_start") or "SU")
        first = next(d % 7 for d in range(week_start, week_start + 7) if d % 7 in days)
        start += timedelta(days=(first - start.weekday()) % 7)
    return start


def _next_turn(shift: Json, previous: datetime) -> datetime:
    """The next group's first start: the rule's first occurrence from a day (an hour) later,
    or, weekly, from the start of the next week within that week."""
    interval = shift.get("interval") or 1
    frequency = shift["frequency"]
    latest = None
    if frequency == "hourly":
        earliest = previous + timedelta(hours=1)
    elif frequency == "daily":
        earliest = previous + timedelta(days=1)
    else:
        week_start = DAYS.index(shift.get("week_start") or "SU")
        ahead = 7 - previous.weekday() + week_start
        ahead = ahead % 7 if ahead > 7 else ahead
        earliest = previous + timedelta(days=ahead + 7 * (interval - 1))
        into_week = (earliest.weekday() - week_start) % 7
        latest = earliest + timedelta(days=6 - into_week)
    found = _rule(shift, previous, interval).after(earliest, inc=True)
    if found is None or (latest is not None and found > latest):
        return earliest
    return found


def _group_events(
    shift: Json,
    zone: ZoneInfo,
    group: list[str],
    first: datetime,
    duration: timedelta,
    groups: int,
    horizon: datetime,
) -> list[Event]:
    # The event's DTEND is its start plus the duration on the wall clock; every occurrence then
    # lasts exactly as long as that first event did.
    exact = _local(first + duration, zone) - _local(first, zone)
    rank = shift.get("level") or 0
    rule = _rule(shift, first, (shift.get("interval") or 1) * groups)
    return [
        Event(_local(wall, zone), _local(wall, zone) + exact, tuple(group), rank)
        for wall in rule.between(first, horizon, inc=True)
    ]


def resolve(events: list[Event]) -> list[Event]:
    """Overrides, then each level from the highest: an event keeps only the time that nothing
    ranked above it holds; events of one rank do not cut each other."""
    covered: list[tuple[datetime, datetime]] = []
    resolved: list[Event] = []
    for rank in sorted({e.rank for e in events}, reverse=True):
        pieces = [
            Event(a, b, event.users, rank)
            for event in events
            if event.rank == rank
            for a, b in _minus((event.start, event.end), covered)
        ]
        resolved += pieces
        covered = _union(covered + [(p.start, p.end) for p in pieces])
    return sorted(resolved, key=lambda e: (e.start, e.users))


def _minus(
    span: tuple[datetime, datetime], covered: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    left = [span]
    for a, b in covered:
        left = [
            piece
            for start, end in left
            for piece in ((start, min(end, a)), (max(start, b), end))
            if piece[0] < piece[1]
        ]
    return left


def _union(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
