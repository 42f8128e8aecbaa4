"""The on-call page: each schedule's week, layer by layer with overrides on top; who is on
call now and next; overrides created and removed here; each person's calendar link.

The week is a table of days (no drawing), so it reads without JavaScript and stacks on a
phone. The page reads in one zone (`?tz=Area/City`; by default the schedules' own zone when
they share one, else UTC): the week starts on that zone's Monday, each day runs from its
midnight to the next (so a DST day is 23 or 25 hours), shift times show in it, and the
override form's times are read in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput, TocsinError
from tocsin.oncall import service as oncall_service
from tocsin.oncall.models import Person, Schedule, ScheduleOverride
from tocsin.oncall.rotation import Shift, final_shifts, layer_shifts
from tocsin.timesource import now
from tocsin.web.api.oncall import new_calendar_url
from tocsin.web.console.dashboard import OnCallNow, on_call_now
from tocsin.web.console.flash import Flash, with_flash
from tocsin.web.console.pages import (
    FormDep,
    _page,
    _refused,
    parse_instant,
    problems_text,
    zone_named,
)
from tocsin.web.console.pages import problems_of as _problems_of
from tocsin.web.console.session import SignedIn, _authorise_post, _to_login
from tocsin.web.deps import RuntimeDep

DAYS = 7
router = APIRouter()


@dataclass(frozen=True)
class Piece:
    """Part of a shift within one day: who, from and to (HH:MM in the page's zone)."""

    person: str
    start: str
    end: str


@dataclass(frozen=True)
class WeekRow:
    label: str
    kind: str  # layer | override | final
    days: list[list[Piece]]


@dataclass(frozen=True)
class WeekView:
    handle: str
    name: str
    timezone: str
    rows: list[WeekRow]
    overrides: list[ScheduleOverride]
    spans: dict[int, str]  # override id -> its from/to in the page's zone


@dataclass(frozen=True)
class Day:
    """One day of the week in the page's zone: its local date and its [start, end) in UTC."""

    date: date
    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        return (self.end - self.start) / timedelta(hours=1)


def days_of_week(monday: date, zone: tzinfo) -> list[Day]:
    """The seven days from `monday`, midnight to midnight in `zone` (23 or 25 h on DST days)."""

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)

    dates = [monday + timedelta(days=n) for n in range(DAYS + 1)]
    return [Day(dates[n], midnight(dates[n]), midnight(dates[n + 1])) for n in range(DAYS)]


def _clock_time(instant: datetime, zone: tzinfo) -> str:
    return f"{instant.astimezone(zone):%H:%M}"


def _pieces(shifts: list[Shift], day: Day, zone: tzinfo) -> list[Piece]:
    found = []
    for shift in shifts:
        start, end = max(shift.start, day.start), min(shift.end, day.end)
        if start < end:
            stop = "24:00" if end == day.end else _clock_time(end, zone)
            found.append(Piece(shift.person, _clock_time(start, zone), stop))
    return found


def _row(label: str, kind: str, shifts: list[Shift], days: list[Day], zone: tzinfo) -> WeekRow:
    return WeekRow(label, kind, [_pieces(shifts, day, zone) for day in days])


def week_of(session: Session, schedule: Schedule, days: list[Day], zone: tzinfo) -> WeekView:
    spec = oncall_service.spec_of(session, schedule)
    start, end = days[0].start, days[-1].end
    rows = [
        _row(f"Layer {layer.name}", "layer", layer_shifts(spec, layer, start, end), days, zone)
        for layer in reversed(spec.layers)
    ]  # highest priority first, as they stack
    overrides = list(
        session.scalars(
            select(ScheduleOverride)
            .where(ScheduleOverride.schedule_id == schedule.id, ScheduleOverride.ends_at > start)
            .order_by(ScheduleOverride.starts_at)
        )
    )
    as_shifts = [
        Shift(person=o.person, start=_aware(o.starts_at), end=_aware(o.ends_at), layer="override")
        for o in overrides
        if _aware(o.starts_at) < end
    ]
    rows.append(_row("Overrides", "override", as_shifts, days, zone))
    rows.append(_row("On call", "final", final_shifts(spec, start, end), days, zone))
    spans = {o.id: _span(o, zone) for o in overrides}
    return WeekView(schedule.handle, schedule.name, schedule.timezone, rows, overrides, spans)


def _span(override: ScheduleOverride, zone: tzinfo) -> str:
    start, end = (_aware(t).astimezone(zone) for t in (override.starts_at, override.ends_at))
    return f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} {zone}"


def _aware(instant: datetime) -> datetime:
    """Stored instants are UTC; SQLite hands them back without a zone."""
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def monday_of(value: str, today: datetime, zone: tzinfo = UTC) -> date:
    """The Monday of the week asked for (YYYY-MM-DD), else of this week in `zone`."""
    try:
        day = date.fromisoformat(value) if value else today.astimezone(zone).date()
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date; use YYYY-MM-DD", field="week") from None
    return day - timedelta(days=day.weekday())


def page_zone_name(asked: str, schedules: list[Schedule]) -> str:
    """The zone the page reads in: the one asked for, else the schedules' shared zone, else UTC."""
    if asked.strip():
        return asked.strip()
    zones = {s.timezone for s in schedules if s.timezone}
    return zones.pop() if len(zones) == 1 else "UTC"


def _zone_or_utc(name: str) -> tuple[str, tzinfo, str | None]:
    """The zone named, or UTC with the error to show when the name is not a zone."""
    try:
        return name, zone_named(name), None
    except InvalidInput as exc:
        return "UTC", UTC, exc.message


@router.get("/oncall")
def oncall_page(
    request: Request, runtime: RuntimeDep, principal: SignedIn, week: str = "", tz: str = ""
) -> Response:
    if principal is None:
        return _to_login(request)
    at = now()
    with runtime.database.read_session() as session:
        schedules = list(session.scalars(select(Schedule).order_by(Schedule.handle)))
        tz_name, zone, tz_error = _zone_or_utc(page_zone_name(tz, schedules))
        try:
            monday = monday_of(week, at, zone)
        except InvalidInput as exc:
            monday = monday_of("", at, zone)
            week_error: str | None = exc.message
        else:
            week_error = None
        days = days_of_week(monday, zone)
        weeks = [week_of(session, s, days, zone) for s in schedules]
        people = list(session.scalars(select(Person).order_by(Person.handle)))
        current: list[OnCallNow] = on_call_now(session, at)
    return _page(
        request,
        "oncall.html",
        principal=principal,
        live="oncall",
        title="On call",
        weeks=weeks,
        days=days,
        people=people,
        current=current,
        monday=monday,
        week_error=week_error,
        tz=tz_name,
        tz_asked=tz.strip(),
        tz_error=tz_error,
        zones=_zone_choices(tz_name, schedules, people),
        previous=(monday - timedelta(days=7)).isoformat(),
        following=(monday + timedelta(days=7)).isoformat(),
        is_admin=principal.can("admin"),
    )


def _zone_choices(current: str, schedules: list[Schedule], people: list[Person]) -> list[str]:
    """Zones worth offering in the picker: UTC, the schedules', the people's, the current one."""
    named = {current, "UTC"} | {s.timezone for s in schedules} | {p.timezone for p in people}
    return sorted(zone for zone in named if zone)


def _back(flash: Flash, tz: str = "") -> Response:
    target = f"/console/oncall?{urlencode({'tz': tz})}" if tz else "/console/oncall"
    return with_flash(RedirectResponse(target, status_code=303), flash)


@router.post("/oncall/overrides")
def create_override(
    request: Request, runtime: RuntimeDep, principal: SignedIn, form: FormDep
) -> Response:
    who = _authorise_post(request, principal)
    if isinstance(who, Response):
        return who
    tz = form.optional("tz") or ""
    try:
        zone = zone_named(tz) if tz.strip() else UTC
        start = parse_instant(form.optional("start"), "start", zone)
        end = parse_instant(form.optional("end"), "end", zone)
        if start is None or end is None:
            raise InvalidInput(
                f"give both a start and an end ({zone})", field="start" if start is None else "end"
            )
        with runtime.database.write_session() as session:
            override = oncall_service.add_override(
                session,
                handle=form.get("schedule").strip(),
                person=form.get("person").strip(),
                start=start,
                end=end,
                actor=who.name,
                reason=form.get("reason").strip(),
            )
            text = (
                f"Override: {override.person} covers {form.get('schedule')} "
                f"from {start.astimezone(zone):%Y-%m-%d %H:%M} "
                f"to {end.astimezone(zone):%Y-%m-%d %H:%M} {zone}."
            )
    except (ValidationError, TocsinError) as exc:
        message = f"Override not created — {problems_text(_problems_of(exc))}"
        return _back(Flash("error", message), tz)
    return _back(Flash("ok", text), tz)


@router.post("/oncall/overrides/{override_id}/remove")
def remove_override(
    override_id: int, request: Request, runtime: RuntimeDep, principal: SignedIn
) -> Response:
    who = _authorise_post(request, principal)
    if isinstance(who, Response):
        return who
    try:
        with runtime.database.write_session() as session:
            oncall_service.remove_override(session, override_id=override_id)
    except TocsinError as exc:
        return _back(Flash("error", f"Override not removed — {problems_text(_problems_of(exc))}"))
    return _back(Flash("ok", f"Override {override_id} removed."))


@router.post("/oncall/people/{handle}/calendar")
def calendar_link(
    handle: str, request: Request, runtime: RuntimeDep, principal: SignedIn
) -> Response:
    who = _authorise_post(request, principal)
    if isinstance(who, Response):
        return who
    if not who.can("admin"):
        return _refused(request, who, "Only an admin can make calendar links.")
    try:
        with runtime.database.write_session() as session:
            url = new_calendar_url(session, "people", handle, str(request.base_url))
    except TocsinError as exc:
        return _back(Flash("error", f"No calendar link — {problems_text(_problems_of(exc))}"))
    return _back(
        Flash("ok", f"Calendar for {handle} (shown once; the previous link stopped): {url}")
    )
