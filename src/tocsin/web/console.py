"""The web console: server-rendered pages for responders (Jinja2, autoescaped, no build step).

- Sign-in is the API token, kept in an HttpOnly, SameSite=Strict cookie.
- Every console POST must also come from this origin (Origin, else Referer, matches Host).
- Pages read in a read session; actions call the incident service in a write session, as
  the API does, then redirect back (POST/redirect/GET). A domain error comes back as a flash
  message that names the field, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.orm import Session

from tocsin import __version__
from tocsin.auth import service as auth_service
from tocsin.auth.service import Principal
from tocsin.errors import InvalidInput, NotFound, TocsinError
from tocsin.flows import incidents as incident_flows
from tocsin.incidents import clocks as clock_service
from tocsin.incidents import service, timeline
from tocsin.incidents.lifecycle import OPEN_STATUSES, STATUSES
from tocsin.incidents.models import Incident
from tocsin.incidents.schemas import (
    ClockOut,
    CompleteClockIn,
    DeclareIn,
    EventOut,
    IncidentOut,
    NoteIn,
    RoleIn,
    SeverityIn,
    StatusIn,
    UpdateIn,
)
from tocsin.oncall.page_failures import page_failures
from tocsin.policy.render import render_markdown
from tocsin.policy.schema import Policy
from tocsin.timesource import now
from tocsin.web.deps import Runtime, RuntimeDep

TOKEN_COOKIE = "tocsin_token"
FLASH_COOKIE = "tocsin_flash"
COOKIE_PATH = "/console"  # the API never reads the cookie: it takes Authorization headers only
TOKEN_MAX_AGE = 30 * 24 * 3600  # a responder should not have to find the token again at 3 a.m.
PAGE_SIZE = 50
# Clocks met by their own action (acknowledge, publish update, resolve) or that fire rather
# than fall due are not offered in "Complete clock".
NOT_COMPLETABLE = ("acknowledge", "update", "resolve", "escalation")
# Pages load only their own script and style, cannot be framed, and post only to this site.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

router = APIRouter(prefix="/console", include_in_schema=False)


# -- time in words ------------------------------------------------------------------------------


def utc_text(value: datetime | None) -> str:
    return "—" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_text(value: datetime) -> str:
    """For machines (`datetime` attributes, countdowns): UTC to the millisecond."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def span_text(seconds: float) -> str:
    """A duration as a responder says it: '45 s', '12 min', '3 h 20 min', '2 d 4 h'."""
    whole = int(abs(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if hours < 1:
        return f"{minutes} min"
    if days < 1:
        return f"{hours} h {minutes % 60} min" if minutes % 60 else f"{hours} h"
    return f"{days} d {hours % 24} h" if hours % 24 else f"{days} d"


def until_text(due: datetime, at: datetime) -> str:
    seconds = (due - at).total_seconds()
    return f"in {span_text(seconds)}" if seconds >= 0 else f"overdue by {span_text(seconds)}"


def ago_text(value: datetime, at: datetime) -> str:
    seconds = (at - value).total_seconds()
    return "just now" if seconds < 5 else f"{span_text(seconds)} ago"


def countdown_text(clock: ClockOut, at: datetime) -> str:
    """An escalation step is not a duty anyone misses: when due it fires, it is not overdue."""
    if clock.kind == "escalation" and clock.due_at <= at:
        return "firing now"
    return until_text(clock.due_at, at)


def clock_phase(clock: ClockOut, at: datetime) -> str:
    """How urgent a clock looks: overdue, warning or pending while it runs; else its state."""
    if clock.state != "pending":
        return clock.state
    if clock.due_at <= at:
        return "pending" if clock.kind == "escalation" else "overdue"
    return "warning" if clock.warn_at is not None and clock.warn_at <= at else "pending"


# -- timeline summaries -------------------------------------------------------------------------


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_value(v)}" for k, v in value.items())
    return str(value)


def _pairs(data: Mapping[str, Any]) -> str:
    """Any event's data, readably: 'key: value; other: a, b', cut at 240 characters."""
    text = "; ".join(f"{k}: {_value(v)}" for k, v in data.items() if v not in (None, "", [], {}))
    return text if len(text) <= 240 else text[:239] + "…"


def _move(data: Mapping[str, Any], why: str) -> str:
    text = f"{data.get('from')} → {data.get('to')}"
    return f"{text}: {data[why]}" if data.get(why) else text


SUMMARIES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "declared": lambda d: f"{d.get('severity')} · {d.get('title')}",
    "status_changed": lambda d: _move(d, "message"),
    "reopened": lambda d: _move(d, "message"),
    "severity_changed": lambda d: _move(d, "reason"),
    "role_assigned": lambda d: f"{d.get('role')}: {d.get('assignee')}",
    "role_unassigned": lambda d: f"{d.get('role')} cleared (was {d.get('previous')})",
    "note": lambda d: str(d.get("text", "")),
    "update_published": lambda d: str(d.get("message", "")),
    "clock_met": lambda d: str(d.get("label", d.get("key", ""))),
    "clock_breached": lambda d: str(d.get("label", d.get("key", ""))),
    "clock_warning": lambda d: f"{d.get('label')} — due {d.get('due_at')}",
    "escalated": lambda d: str(d.get("label", d.get("key", ""))),
    "escalated_now": lambda d: f"brought forward: {d.get('label', d.get('key', ''))}",
    "clocks_cancelled": lambda d: f"{', '.join(d.get('keys', []))} — {d.get('reason')}",
    "flags_changed": lambda d: f"{_pairs(d.get('changes', {}))} (aware {d.get('aware_at')})",
    "page_failed": lambda d: _value(d.get("problems")) or _pairs(d),
}


def summarise(event: EventOut) -> str:
    summary = SUMMARIES.get(event.kind)
    return summary(event.data) if summary else _pairs(event.data)


# -- templates ----------------------------------------------------------------------------------

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters.update(
    utc=utc_text,
    iso=iso_text,
    until=until_text,
    countdown=countdown_text,
    ago=ago_text,
    phase=clock_phase,
)
TEMPLATES.globals.update(summarise=summarise, version=__version__)


@dataclass(frozen=True)
class Flash:
    """A one-time message shown after a redirect: level is 'ok' or 'error'."""

    level: str
    text: str


def _read_flash(request: Request) -> Flash | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return Flash(level=str(data["level"]), text=str(data["text"]))
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None


def _with_flash(response: Response, flash: Flash) -> Response:
    payload = json.dumps({"level": flash.level, "text": flash.text[:1500]}).encode()
    value = base64.urlsafe_b64encode(payload).decode()
    response.set_cookie(FLASH_COOKIE, value, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


def _page(
    request: Request,
    template: str,
    *,
    principal: Principal | None,
    status: int = 200,
    live: bool = False,
    **context: Any,
) -> HTMLResponse:
    """Render a page. `live` pages re-fetch themselves (see console.js)."""
    flash = _read_flash(request)
    at = now()
    html = TEMPLATES.get_template(template).render(
        request_path=request.url.path,
        principal=principal,
        can_respond=principal is not None and principal.can("respond"),
        flash=flash,
        now=at,
        refresh_url=_here(request) if live else None,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path=COOKIE_PATH)
    return response


def _refused(request: Request, principal: Principal | None, message: str) -> HTMLResponse:
    return _page(
        request, "error.html", principal=principal, status=403, title="Not allowed", message=message
    )


def _missing(request: Request, principal: Principal, message: str) -> HTMLResponse:
    return _page(
        request, "error.html", principal=principal, status=404, title="Not found", message=message
    )


# -- who is calling -----------------------------------------------------------------------------


def signed_in(request: Request, runtime: RuntimeDep) -> Principal | None:
    token = request.cookies.get(TOKEN_COOKIE, "").strip()
    if not token:
        return None
    with runtime.database.read_session() as session:
        return auth_service.authenticate(session, token)


SignedIn = Annotated[Principal | None, Depends(signed_in)]


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _to_login(request: Request) -> RedirectResponse:
    next_url = quote(_here(request), safe="")
    return RedirectResponse(f"/console/login?next={next_url}", status_code=303)


def _safe_next(target: str) -> str:
    """Only a console path may follow sign-in, so the login form cannot redirect elsewhere."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console"):
        return "/console"
    return target if not target.startswith("//") else "/console"


def same_origin(request: Request) -> bool:
    """The POST came from a page of this site: its Origin (or Referer) names our Host."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return False
    return urlsplit(source).netloc.lower() == request.headers.get("host", "").lower()


def _authorise_post(request: Request, principal: Principal | None) -> Principal | Response:
    """Who may make this console POST, or the answer that refuses it."""
    if not same_origin(request):
        return _refused(
            request, principal, "This form was not sent from a Tocsin page, so it was refused."
        )
    if principal is None:
        return _to_login(request)
    if not principal.can("respond"):
        return _refused(
            request,
            principal,
            f"A {principal.role} token can read incidents but not change them; "
            "ask an admin for a responder token.",
        )
    return principal


# -- forms --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Form:
    """An urlencoded form body (python-multipart is not a dependency; console forms need none)."""

    fields: Mapping[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> str:
        values = self.fields.get(name)
        return values[0] if values else ""

    def optional(self, name: str) -> str | None:
        return self.get(name).strip() or None


async def read_form(request: Request) -> Form:
    body = (await request.body()).decode("utf-8", errors="replace")
    return Form(parse_qs(body, keep_blank_values=True))


FormDep = Annotated[Form, Depends(read_form)]


def _field_message(error: Mapping[str, Any]) -> str:
    too_short = error["type"] == "string_too_short" and error.get("ctx", {}).get("min_length") == 1
    return "is required" if error["type"] == "missing" or too_short else str(error["msg"])


def problems_of(exc: ValidationError | TocsinError) -> dict[str, str]:
    """Field name → what is wrong with it."""
    if isinstance(exc, TocsinError):
        return {exc.field or "form": exc.message}
    return {
        ".".join(str(p) for p in e["loc"]) or "form": _field_message(dict(e)) for e in exc.errors()
    }


def problems_text(problems: Mapping[str, str]) -> str:
    return "; ".join(f"{name}: {message}" for name, message in problems.items())


def parse_instant(value: str | None, name: str) -> datetime | None:
    """An ISO time from a form; without an offset it is taken as UTC (the form says so)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{value!r} is not a time; use YYYY-MM-DDTHH:MM (UTC)", field=name
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def split_services(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


# -- sign in and out ----------------------------------------------------------------------------


@router.get("/login")
def login_page(
    request: Request,
    principal: SignedIn,
    next_url: Annotated[str, Query(alias="next")] = "/console",
) -> Response:
    if principal is not None:
        return RedirectResponse(_safe_next(next_url), status_code=303)
    return _page(
        request,
        "login.html",
        principal=None,
        title="Sign in",
        next_url=_safe_next(next_url),
        error=None,
        # A SameSite=Strict cookie is not sent on a link followed from another site (a page in
        # chat or email); the login page then reopens the link from this site, cookie and all.
        reopen=request.headers.get("sec-fetch-site") == "cross-site",
    )


@router.post("/login")
def login(request: Request, runtime: RuntimeDep, form: FormDep) -> Response:
    if not same_origin(request):
        return _refused(request, None, "This form was not sent from a Tocsin page.")
    token, next_url = form.get("token").strip(), _safe_next(form.get("next") or "/console")
    with runtime.database.read_session() as session:
        principal = auth_service.authenticate(session, token) if token else None
    if principal is None:
        error = "token: paste an API token" if not token else "token: not valid, or revoked"
        return _page(
            request,
            "login.html",
            principal=None,
            status=401,
            title="Sign in",
            next_url=next_url,
            error=error,
            reopen=False,
        )
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        max_age=TOKEN_MAX_AGE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    if not same_origin(request):
        return _refused(request, None, "This form was not sent from a Tocsin page.")
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


# -- the incident list and the declare form -----------------------------------------------------


@dataclass(frozen=True)
class IncidentRow:
    incident: IncidentOut
    rank: int
    next_clock: ClockOut | None
    is_open: bool


@dataclass(frozen=True)
class ListFilter:
    status: str = ""
    severity: str = ""
    before: int | None = None

    def statuses(self) -> list[str]:
        if self.status == "open":
            return list(OPEN_STATUSES)
        return [self.status] if self.status else []

    def severities(self) -> list[str]:
        return [self.severity] if self.severity else []


def next_deadline(clocks: Sequence[ClockOut]) -> ClockOut | None:
    """The pending clock due first, preferring deadlines people meet over escalation steps."""
    pending = sorted((c for c in clocks if c.state == "pending"), key=lambda c: c.due_at)
    duties = [c for c in pending if c.kind != "escalation"]
    candidates = duties or pending
    return candidates[0] if candidates else None


def _rank(policy: Policy, severity: str) -> int:
    ids = policy.severity_ids()
    return ids.index(severity) if severity in ids else len(ids)


def _row(session: Session, incident: Incident) -> IncidentRow:
    out = IncidentOut.of(
        incident,
        clock_service.clocks_of(session, incident.id),
        page_failures=page_failures(session, incident.id),
    )
    return IncidentRow(
        incident=out,
        rank=_rank(service.policy_of(session, incident).policy, incident.severity),
        next_clock=next_deadline(out.clocks),
        is_open=incident.status in OPEN_STATUSES,
    )


def _rows(runtime: Runtime, chosen: ListFilter) -> tuple[list[IncidentRow], int | None]:
    """One page of rows, newest first, and the cursor of the next (older) page if any."""
    with runtime.database.read_session() as session:
        incidents = service.list_incidents(
            session,
            statuses=chosen.statuses(),
            severities=chosen.severities(),
            limit=PAGE_SIZE,
            before=chosen.before,
        )
        older = incidents[-1].pk if len(incidents) == PAGE_SIZE else None
        return [_row(session, i) for i in incidents], older


def _list_page(
    request: Request,
    runtime: Runtime,
    principal: Principal,
    chosen: ListFilter,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> HTMLResponse:
    rows, older = _rows(runtime, chosen)
    return _page(
        request,
        "incidents.html",
        principal=principal,
        status=422 if errors else 200,
        live=not errors,
        title="Incidents",
        rows=rows,
        older=older,
        chosen=chosen,
        statuses=STATUSES,
        policy=runtime.policy.policy,
        values=values or {},
        errors=errors or {},
    )


@router.get("")
def incidents_page(
    request: Request,
    runtime: RuntimeDep,
    principal: SignedIn,
    status: str = "",
    severity: str = "",
    before: str = "",
) -> Response:
    if principal is None:
        return _to_login(request)
    cursor = int(before) if before.isdigit() else None
    chosen = ListFilter(status=status, severity=severity, before=cursor)
    return _list_page(request, runtime, principal, chosen)


def _declaration(form: Form) -> incident_flows.Declaration:
    body = DeclareIn(
        title=form.get("title"),
        severity=form.get("severity"),
        type=form.optional("type"),
        summary=form.get("summary"),
        services=split_services(form.get("services")),
    )
    return incident_flows.Declaration(**body.model_dump())


@router.post("/incidents")
def declare(request: Request, runtime: RuntimeDep, principal: SignedIn, form: FormDep) -> Response:
    who = _authorise_post(request, principal)
    if isinstance(who, Response):
        return who
    try:
        declaration = _declaration(form)
        with runtime.database.write_session() as session:
            incident = incident_flows.declare(
                session, loaded=runtime.policy, declaration=declaration, actor=who.name
            )
            incident_id = incident.id
    except (ValidationError, TocsinError) as exc:
        values = {name: form.get(name) for name in form.fields}
        return _list_page(
            request, runtime, who, ListFilter(), values=values, errors=problems_of(exc)
        )
    response = RedirectResponse(f"/console/incidents/{incident_id}", status_code=303)
    return _with_flash(response, Flash("ok", f"Declared {incident_id}. Its clocks are running."))


# -- one incident -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentView:
    incident: IncidentOut
    events: list[EventOut]
    policy: Policy
    rank: int
    deadlines: list[ClockOut]
    escalations: list[ClockOut]
    completable: list[ClockOut]

    @property
    def can_escalate(self) -> bool:
        """Someone still to page, and nobody has acknowledged (escalate_now's own rule)."""
        incident = self.incident
        open_ = incident.acknowledged_at is None and incident.status not in ("resolved", "closed")
        return open_ and any(c.state == "pending" for c in self.escalations)

    def name_of(self, items: Sequence[Any], item_id: str) -> str:
        """The policy's name for a role, flag, type or severity id (the id if unknown)."""
        return next((str(i.name) for i in items if i.id == item_id), item_id)


def _incident_view(session: Session, incident_id: str) -> IncidentView:
    incident = service.get(session, incident_id)
    policy = service.policy_of(session, incident).policy
    out = IncidentOut.of(
        incident,
        clock_service.clocks_of(session, incident.id),
        page_failures=page_failures(session, incident.id),
    )
    events = [EventOut.of(e) for e in timeline.events(session, incident.id)]
    return IncidentView(
        incident=out,
        events=events[::-1],
        policy=policy,
        rank=_rank(policy, incident.severity),
        deadlines=[c for c in out.clocks if c.kind != "escalation"],
        escalations=[c for c in out.clocks if c.kind == "escalation"],
        completable=[
            c for c in out.clocks if c.state == "pending" and c.kind not in NOT_COMPLETABLE
        ],
    )


@router.get("/incidents/{incident_id}")
def incident_page(
    incident_id: str, request: Request, runtime: RuntimeDep, principal: SignedIn
) -> Response:
    if principal is None:
        return _to_login(request)
    try:
        with runtime.database.read_session() as session:
            view = _incident_view(session, incident_id)
    except NotFound:
        return _missing(request, principal, f"There is no incident {incident_id}.")
    title = f"{view.incident.id} · {view.incident.title}"
    return _page(request, "incident.html", principal=principal, live=True, title=title, view=view)


# Each action: (session, incident id, form, actor) → what to tell the responder when it worked.
Action = Callable[[Session, str, Form, str], str]


def _acknowledge(session: Session, incident_id: str, _form: Form, actor: str) -> str:
    incident_flows.acknowledge(session, incident_id=incident_id, actor=actor)
    return "Acknowledged: the acknowledge clock is met and the pager stops."


def _escalate(session: Session, incident_id: str, _form: Form, actor: str) -> str:
    incident_flows.escalate_now(session, incident_id=incident_id, actor=actor)
    return "Escalated: the next step is being paged now."


def _change_status(session: Session, incident_id: str, form: Form, actor: str) -> str:
    body = StatusIn(status=form.get("status"), message=form.get("message"))
    incident_flows.change_status(
        session, incident_id=incident_id, status=body.status, message=body.message, actor=actor
    )
    return f"Status is now {body.status}."


def _change_severity(session: Session, incident_id: str, form: Form, actor: str) -> str:
    body = SeverityIn(severity=form.get("severity"), reason=form.get("reason"))
    incident_flows.change_severity(
        session, incident_id=incident_id, severity=body.severity, reason=body.reason, actor=actor
    )
    return f"Severity is now {body.severity}; its clocks were replanned."


def _assign_role(session: Session, incident_id: str, form: Form, actor: str) -> str:
    body = RoleIn(role=form.get("role"), assignee=form.optional("assignee"))
    incident_flows.assign_role(
        session, incident_id=incident_id, role=body.role, assignee=body.assignee, actor=actor
    )
    return f"{body.role}: {body.assignee}" if body.assignee else f"{body.role} cleared."


def _add_note(session: Session, incident_id: str, form: Form, actor: str) -> str:
    body = NoteIn(text=form.get("text"))
    incident_flows.add_note(session, incident_id=incident_id, text=body.text, actor=actor)
    return "Note added to the timeline."


def _publish_update(session: Session, incident_id: str, form: Form, actor: str) -> str:
    body = UpdateIn(message=form.get("message"))
    incident_flows.publish_update(
        session, incident_id=incident_id, message=body.message, actor=actor
    )
    return "Update published; the next update clock starts now."


def _set_flag(session: Session, incident_id: str, form: Form, actor: str) -> str:
    flag = form.get("flag").strip()
    if not flag:
        raise InvalidInput("choose a flag", field="flag")
    value = None if form.get("value") == "clear" else True
    aware_at = parse_instant(form.optional("aware_at"), "aware_at")
    incident_flows.set_flags(
        session, incident_id=incident_id, flags={flag: value}, aware_at=aware_at, actor=actor
    )
    return f"{flag} {'cleared' if value is None else 'set'}."


def _complete_clock(session: Session, incident_id: str, form: Form, actor: str) -> str:
    key = form.get("key").strip()
    if not key:
        raise InvalidInput("choose a pending clock", field="key")
    body = CompleteClockIn(note=form.get("note"))
    incident_flows.complete_clock(
        session, incident_id=incident_id, key=key, note=body.note, actor=actor
    )
    return f"Clock {key} completed."


ACTIONS: dict[str, tuple[str, Action]] = {
    "acknowledge": ("Acknowledge", _acknowledge),
    "escalate": ("Escalate now", _escalate),
    "status": ("Change status", _change_status),
    "severity": ("Change severity", _change_severity),
    "roles": ("Assign role", _assign_role),
    "notes": ("Add note", _add_note),
    "updates": ("Publish update", _publish_update),
    "flags": ("Set flag", _set_flag),
    "complete": ("Complete clock", _complete_clock),
}


def _run(runtime: Runtime, incident_id: str, action: str, form: Form, actor: str) -> Flash:
    title, run = ACTIONS[action]
    try:
        with runtime.database.write_session() as session:
            done = run(session, incident_id, form, actor)
    except (ValidationError, TocsinError) as exc:
        return Flash("error", f"{title} failed — {problems_text(problems_of(exc))}")
    return Flash("ok", done)


@router.post("/incidents/{incident_id}/{action}")
def incident_action(
    incident_id: str,
    action: str,
    request: Request,
    runtime: RuntimeDep,
    principal: SignedIn,
    form: FormDep,
) -> Response:
    who = _authorise_post(request, principal)
    if isinstance(who, Response):
        return who
    if action not in ACTIONS:
        return _missing(request, who, f"There is no console action {action!r}.")
    flash = _run(runtime, incident_id, action, form, who.name)
    response = RedirectResponse(f"/console/incidents/{incident_id}", status_code=303)
    return _with_flash(response, flash)


# -- the policy as a runbook --------------------------------------------------------------------


@lru_cache(maxsize=8)
def runbook_html(markdown_text: str) -> Markup | None:
    """The runbook as HTML (raw HTML in the text is escaped), or None to show it as text."""
    try:
        from markdown_it import MarkdownIt  # installed with rich, a dependency
    except ImportError:
        return None
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    return Markup(renderer.render(markdown_text))


@router.get("/policy")
def policy_page(request: Request, runtime: RuntimeDep, principal: SignedIn) -> Response:
    if principal is None:
        return _to_login(request)
    text = render_markdown(runtime.policy)
    return _page(
        request,
        "policy.html",
        principal=principal,
        title=f"Policy · {runtime.policy.policy.title}",
        loaded=runtime.policy,
        markdown_text=text,
        runbook=runbook_html(text),
    )
