"""The incident list (the console's home page), its filters, and the form that declares one.

Pages read in a read session; declaring calls the incident service in a write session, as the
API does, then redirects to the new incident. A domain error re-renders the form with each
field's problem beside it, never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from tocsin.auth.service import Principal
from tocsin.errors import TocsinError
from tocsin.evidence import switches
from tocsin.flows import incidents as incident_flows
from tocsin.incidents import clocks as clock_service
from tocsin.incidents import service
from tocsin.incidents.lifecycle import OPEN_STATUSES, STATUSES
from tocsin.incidents.models import Incident
from tocsin.incidents.schemas import ClockOut, DeclareIn, IncidentOut
from tocsin.oncall.page_failures import page_failures
from tocsin.policy.clock_kinds import fires
from tocsin.policy.schema import Policy
from tocsin.web.console.flash import Flash, with_flash
from tocsin.web.console.pages import Form, FormDep, _page, problems_of, split_services
from tocsin.web.console.session import SignedIn, _authorise_post, _to_login
from tocsin.web.deps import Runtime, RuntimeDep

PAGE_SIZE = 50

# The list itself is /console, registered in tocsin.web.console (see there for why).
router = APIRouter()


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
    """The pending clock due first, preferring deadlines people meet over steps that fire."""
    pending = sorted((c for c in clocks if c.state == "pending"), key=lambda c: c.due_at)
    duties = [c for c in pending if not fires(c.kind)]
    candidates = duties or pending
    return candidates[0] if candidates else None


def severity_rank(policy: Policy, severity: str) -> int:
    """As Policy.rank (0 is most severe), but a severity the policy lacks ranks last, not fails."""
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
        rank=severity_rank(service.policy_of(session, incident).policy, incident.severity),
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
    with runtime.database.read_session() as session:
        switches_on = list(switches.on_now(session))
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
        switches_on=switches_on,
    )


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
    return with_flash(response, Flash("ok", f"Declared {incident_id}. Its clocks are running."))
