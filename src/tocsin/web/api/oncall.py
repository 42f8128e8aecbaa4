"""On-call over HTTP: apply the file, who is on call, shifts, overrides, calendar feeds."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput, NotFound
from tocsin.oncall import service
from tocsin.oncall.config import OnCallConfig
from tocsin.oncall.ical import feed_etag, render_ical, whole_shifts
from tocsin.oncall.models import EscalationPolicy, Person, Schedule, ScheduleOverride, Service, Team
from tocsin.oncall.rotation import Shift
from tocsin.policy.loader import PolicyError, load_yaml_model
from tocsin.timesource import Instant, now
from tocsin.web.deps import Admin, PathId, Reader, ReadSession, Responder, RuntimeDep

router = APIRouter(prefix="/api/v1", tags=["on-call"])
feeds = APIRouter(tags=["calendar feeds"])
FEED_PAST, FEED_AHEAD = timedelta(days=7), timedelta(days=90)


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The on-call YAML document.", max_length=512_000)
    file: str = Field(default="oncall.yaml", description="Its name, for error messages.")
    dry_run: bool = False


@router.post("/oncall/apply", summary="Make on-call match the YAML file; lists what changed")
def apply(body: ApplyIn, runtime: RuntimeDep, _principal: Admin) -> JSONResponse:
    try:
        config = load_yaml_model(body.text, file=body.file, model=OnCallConfig)
    except PolicyError as exc:
        errors = [
            {"field": i.field or "body", "line": i.line, "message": i.message} for i in exc.issues
        ]
        message = f"{body.file} is not valid: " + "; ".join(str(i) for i in exc.issues[:5])
        return JSONResponse({"error": "invalid", "message": message, "errors": errors}, 422)
    with runtime.database.write_session() as session:
        changes = service.apply(session, config)
        if body.dry_run:
            session.rollback()
    return JSONResponse({"changes": changes, "dry_run": body.dry_run})


def _at(at: datetime | None) -> datetime:
    return at or now()


@router.get("/oncall", summary="Who is on call now (or at a time), per schedule")
def who(
    session: ReadSession,
    _principal: Reader,
    schedule: str | None = None,
    at: Instant | None = None,
) -> list[dict[str, Any]]:
    when = _at(at)
    handles = (
        [schedule]
        if schedule
        else list(session.scalars(select(Schedule.handle).order_by(Schedule.handle)))
    )
    return [
        {"schedule": h, "at": when, "on_call": service.who_is_on_call(session, h, when)}
        for h in handles
    ]


@router.get("/oncall/shifts", summary="A schedule's final shifts over a window")
def shifts(
    session: ReadSession,
    _principal: Reader,
    schedule: str,
    start: Annotated[Instant, Query(alias="from")],
    end: Annotated[Instant, Query(alias="to")],
) -> list[dict[str, Any]]:
    return [s.model_dump(mode="json") for s in service.shifts(session, schedule, start, end)]


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person: str
    start: Instant
    end: Instant
    reason: str = ""


def _override_json(override: ScheduleOverride) -> dict[str, Any]:
    return {
        "id": override.id,
        "person": override.person,
        "start": override.starts_at,
        "end": override.ends_at,
        "reason": override.reason,
        "created_by": override.created_by,
    }


@router.post("/schedules/{handle}/overrides", status_code=201, summary="Cover someone's shift")
def add_override(
    handle: str, body: OverrideIn, runtime: RuntimeDep, principal: Responder
) -> dict[str, Any]:
    with runtime.database.write_session() as session:
        override = service.add_override(
            session,
            handle=handle,
            person=body.person,
            start=body.start,
            end=body.end,
            actor=principal.name,
            reason=body.reason,
        )
        return _override_json(override)


@router.get("/schedules/{handle}/overrides", summary="Overrides on a schedule")
def list_overrides(handle: str, session: ReadSession, _principal: Reader) -> list[dict[str, Any]]:
    schedule = service.schedule_by_handle(session, handle)
    rows = session.scalars(
        select(ScheduleOverride)
        .where(ScheduleOverride.schedule_id == schedule.id)
        .order_by(ScheduleOverride.starts_at)
    )
    return [_override_json(o) for o in rows]


@router.delete("/schedules/{handle}/overrides/{override_id}", status_code=204)
def remove_override(
    handle: str, override_id: PathId, runtime: RuntimeDep, _principal: Responder
) -> Response:
    with runtime.database.write_session() as session:
        service.remove_override(session, override_id=override_id)
    return Response(status_code=204)


def _listing(session: Session, model: Any, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = session.scalars(select(model).order_by(model.handle))
    return [{f: getattr(row, f) for f in fields} for row in rows]


@router.get("/people", summary="People (contact addresses are not shown)")
def people(session: ReadSession, _principal: Reader) -> list[dict[str, Any]]:
    return _listing(session, Person, ("handle", "name", "email", "timezone"))


@router.get("/teams", summary="Teams")
def teams(session: ReadSession, _principal: Reader) -> list[dict[str, Any]]:
    return _listing(session, Team, ("handle", "name", "members"))


@router.get("/schedules", summary="Schedules and their layers")
def schedules(session: ReadSession, _principal: Reader) -> list[dict[str, Any]]:
    return _listing(session, Schedule, ("handle", "name", "timezone", "layers"))


@router.get("/escalation-policies", summary="Escalation policies")
def escalation_policies(session: ReadSession, _principal: Reader) -> list[dict[str, Any]]:
    fields = ("handle", "name", "repeat", "repeat_after_s", "steps", "targets", "is_default")
    return _listing(session, EscalationPolicy, fields)


@router.get("/services", summary="Services and their escalation policies")
def services(session: ReadSession, _principal: Reader) -> list[dict[str, Any]]:
    return _listing(session, Service, ("handle", "name", "escalation_policy"))


# -- calendar feeds at secret URLs ---------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _owner(session: Session, kind: str, handle: str) -> Person | Schedule:
    model: Any = Schedule if kind == "schedules" else Person
    row = session.scalar(select(model).where(model.handle == handle))
    if row is None:
        raise NotFound(f"no {kind[:-1]} {handle!r}", field="handle")
    return row  # type: ignore[no-any-return]


@router.post("/{kind}/{handle}/calendar-token", summary="A new secret calendar URL (old one stops)")
def calendar_token(
    kind: str, handle: str, request: Request, runtime: RuntimeDep, _principal: Admin
) -> dict[str, str]:
    if kind not in ("schedules", "people"):
        raise InvalidInput(
            "calendars exist for schedules and people",
            field="kind",
            allowed=["schedules", "people"],
        )
    with runtime.database.write_session() as session:
        url = new_calendar_url(session, kind, handle, str(request.base_url))
    return {"url": url}


def new_calendar_url(session: Session, kind: str, handle: str, base: str) -> str:
    """Mint a secret calendar URL for a schedule or person; the previous one stops working."""
    token = secrets.token_urlsafe(24)
    _owner(session, kind, handle).calendar_token_digest = _digest(token)
    return f"{base.rstrip('/')}/ical/{kind}/{handle}.ics?token={token}"


def _schedule_shifts(session: Session, handle: str, start: datetime, end: datetime) -> list[Shift]:
    schedule = service.schedule_by_handle(session, handle)
    return whole_shifts(service.spec_of(session, schedule), start, end)


def _person_shifts(session: Session, handle: str, start: datetime, end: datetime) -> list[Shift]:
    # By schedule handle, so shifts that share a start keep their order (and their UIDs).
    found = []
    for schedule in session.scalars(select(Schedule.handle).order_by(Schedule.handle)):
        found += [s for s in _schedule_shifts(session, schedule, start, end) if s.person == handle]
    return sorted(found, key=lambda s: s.start)


def _feed_window() -> tuple[datetime, datetime]:
    # Whole days, so the shifts in the feed (and its ETag) change only when the schedule
    # does, or once a day as the window moves on.
    today = now().replace(hour=0, minute=0, second=0, microsecond=0)
    return today - FEED_PAST, today + FEED_AHEAD


def _calendar_opens(session: Session, kind: str, handle: str, token: str) -> bool:
    if kind not in ("schedules", "people"):
        return False
    model: Any = Schedule if kind == "schedules" else Person
    owner = session.scalar(select(model).where(model.handle == handle))
    digest = owner.calendar_token_digest if owner is not None else None
    # Compared in constant time, and a missing owner costs the same digest as a present one.
    return hmac.compare_digest(digest or "", _digest(token)) and digest is not None


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's weak comparison, as If-None-Match asks: W/ is ignored, "*" is any feed."""
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


@feeds.get("/ical/{kind}/{name}", summary="iCalendar feed (RFC 5545) at a secret URL")
def ical_feed(
    kind: str,
    name: str,
    token: str,
    session: ReadSession,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    handle = name.removesuffix(".ics")
    if not _calendar_opens(session, kind, handle, token):
        # One answer for every wrong part, so the feed URL reveals no handle that exists.
        raise NotFound("no such calendar", field="token")
    shifts_of = _schedule_shifts if kind == "schedules" else _person_shifts
    found = shifts_of(session, handle, *_feed_window())
    calendar = {"calendar_name": f"Tocsin on-call: {handle}", "uid_namespace": f"{kind}/{handle}"}
    etag = feed_etag(found, **calendar)
    if _etag_matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    body = render_ical(found, **calendar, generated_at=now())
    return Response(body, media_type="text/calendar; charset=utf-8", headers={"ETag": etag})
