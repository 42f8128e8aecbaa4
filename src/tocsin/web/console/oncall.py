"""The on-call page: each schedule's week, layer by layer with overrides on top; who is on
call now and next; overrides created and removed here; each person's calendar link.

The week is a table of days (no drawing), so it reads without JavaScript and stacks on a
phone. Times are UTC, as the forms say.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

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
from tocsin.web.console.pages import FormDep, _page, _refused, parse_instant, problems_text
from tocsin.web.console.pages import problems_of as _problems_of
from tocsin.web.console.session import SignedIn, _authorise_post, _to_login
from tocsin.web.deps import RuntimeDep

DAYS = 7
router = APIRouter()


@dataclass(frozen=True)
class Piece:
    """Part of a shift within one day: who, from and to (HH:MM, UTC)."""

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


def _pieces(shifts: list[Shift], day: datetime) -> list[Piece]:
    end_of_day = day + timedelta(days=1)
    found = []
    for shift in shifts:
        start, end = max(shift.start, day), min(shift.end, end_of_day)
        if start < end:
            stop = "24:00" if end == end_of_day else f"{end:%H:%M}"
            found.append(Piece(shift.person, f"{start:%H:%M}", stop))
    return found


def _row(label: str, kind: str, shifts: list[Shift], monday: datetime) -> WeekRow:
    days = [monday + timedelta(days=n) for n in range(DAYS)]
    return WeekRow(label, kind, [_pieces(shifts, day) for day in days])


def week_of(session: Session, schedule: Schedule, monday: datetime) -> WeekView:
    spec = oncall_service.spec_of(session, schedule)
    end = monday + timedelta(days=DAYS)
    rows = [
        _row(f"Layer {layer.name}", "layer", layer_shifts(spec, layer, monday, end), monday)
        for layer in reversed(spec.layers)
    ]  # highest priority first, as they stack
    overrides = list(
        session.scalars(
            select(ScheduleOverride)
            .where(ScheduleOverride.schedule_id == schedule.id, ScheduleOverride.ends_at > monday)
            .order_by(ScheduleOverride.starts_at)
        )
    )
    as_shifts = [
        Shift(person=o.person, start=o.starts_at, end=o.ends_at, layer="override")
        for o in overrides
        if o.starts_at < end
    ]
    rows.append(_row("Overrides", "override", as_shifts, monday))
    rows.append(_row("On call", "final", final_shifts(spec, monday, end), monday))
    return WeekView(schedule.handle, schedule.name, schedule.timezone, rows, overrides)


def monday_of(value: str, today: datetime) -> datetime:
    """The Monday 00:00 UTC of the week asked for (YYYY-MM-DD), else of this week."""
    try:
        day = date.fromisoformat(value) if value else today.date()
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date; use YYYY-MM-DD", field="week") from None
    monday = day - timedelta(days=day.weekday())
    return datetime.combine(monday, time(0), tzinfo=UTC)


@router.get("/oncall")
def oncall_page(
    request: Request, runtime: RuntimeDep, principal: SignedIn, week: str = ""
) -> Response:
    if principal is None:
        return _to_login(request)
    at = now()
    try:
        monday = monday_of(week, at)
    except InvalidInput as exc:
        monday = monday_of("", at)
        week_error: str | None = exc.message
    else:
        week_error = None
    with runtime.database.read_session() as session:
        schedules = list(session.scalars(select(Schedule).order_by(Schedule.handle)))
        weeks = [week_of(session, s, monday) for s in schedules]
        people = list(session.scalars(select(Person).order_by(Person.handle)))
        current: list[OnCallNow] = on_call_now(session, at)
    days = [monday + timedelta(days=n) for n in range(DAYS)]
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
        previous=(monday - timedelta(days=7)).date().isoformat(),
        following=(monday + timedelta(days=7)).date().isoformat(),
        is_admin=principal.can("admin"),
    )


def _back(flash: Flash) -> Response:
    return with_flash(RedirectResponse("/console/oncall", status_code=303), flash)


@router.post("/oncall/overrides")
def create_override(
    request: Request, runtime: RuntimeDep, principal: SignedIn, form: FormDep
) -> Response:
    who = _authorise_post(request, principal)
    if isinstance(who, Response):
        return who
    try:
        start = parse_instant(form.optional("start"), "start")
        end = parse_instant(form.optional("end"), "end")
        if start is None or end is None:
            raise InvalidInput(
                "give both a start and an end (UTC)", field="start" if start is None else "end"
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
                f"from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC."
            )
    except (ValidationError, TocsinError) as exc:
        return _back(Flash("error", f"Override not created — {problems_text(_problems_of(exc))}"))
    return _back(Flash("ok", text))


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
