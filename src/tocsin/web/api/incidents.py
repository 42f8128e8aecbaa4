"""HTTP routes for incidents. Thin: parse, call the service, shape the answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.alerts import changes
from tocsin.alerts.models import Alert
from tocsin.comms import records
from tocsin.errors import InvalidInput
from tocsin.flows import communications
from tocsin.flows import incidents as incident_flows
from tocsin.incidents import clocks as clock_service
from tocsin.incidents import service, timeline
from tocsin.incidents.lifecycle import STATUSES
from tocsin.incidents.models import Incident
from tocsin.incidents.schemas import (
    AcknowledgeIn,
    AlertCounts,
    ClockOut,
    CompleteClockIn,
    DeclareIn,
    EventOut,
    FlagsIn,
    IncidentOut,
    IncidentPage,
    NoteIn,
    RoleIn,
    SeverityIn,
    StatusIn,
    UpdateIn,
)
from tocsin.oncall.page_failures import page_failures
from tocsin.web.deps import MAX_ID, Reader, ReadSession, Responder, RuntimeDep

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])


def _alert_counts(session: Session, incident_id: str) -> AlertCounts:
    query = (
        select(Alert.status, func.count())
        .where(Alert.incident_id == incident_id)
        .group_by(Alert.status)
    )
    counts = {status: int(n) for status, n in session.execute(query)}
    return AlertCounts(firing=counts.get("firing", 0), resolved=counts.get("resolved", 0))


def _out(session: Session, incident: Incident) -> IncidentOut:
    clocks = clock_service.clocks_of(session, incident.id)
    return IncidentOut.of(
        incident,
        clocks,
        _alert_counts(session, incident.id),
        page_failures(session, incident.id),
        records.unreached(session, incident.id),
        changes.shown_on(session, incident),
    )


@router.post("", status_code=201, summary="Declare an incident")
def declare(body: DeclareIn, runtime: RuntimeDep, principal: Responder) -> IncidentOut:
    with runtime.database.write_session() as session:
        incident = incident_flows.declare(
            session,
            loaded=runtime.policy,
            declaration=incident_flows.Declaration(**body.model_dump()),
            actor=principal.name,
            sending=runtime.sending,
        )
        session.flush()
        return _out(session, incident)


def _parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or not 0 < int(cursor) <= MAX_ID:
        raise InvalidInput("cursor is not one this API handed out", field="cursor")
    return int(cursor)


def _check_statuses(statuses: list[str]) -> None:
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise InvalidInput(
            f"unknown status {unknown[0]!r}; allowed: {', '.join(STATUSES)}",
            field="status",
            allowed=STATUSES,
        )


@router.get("", summary="List incidents, newest first")
def list_incidents(
    session: ReadSession,
    _principal: Reader,
    status: Annotated[list[str], Query()] = [],  # noqa: B006  (FastAPI reads, never mutates)
    severity: Annotated[list[str], Query()] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> IncidentPage:
    _check_statuses(status)
    rows = service.list_incidents(
        session, statuses=status, severities=severity, limit=limit, before=_parse_cursor(cursor)
    )
    next_cursor = str(rows[-1].pk) if len(rows) == limit else None
    return IncidentPage(items=[_out(session, i) for i in rows], next_cursor=next_cursor)


@router.get("/{incident_id}", summary="Read one incident")
def read(incident_id: str, session: ReadSession, _principal: Reader) -> IncidentOut:
    return _out(session, service.get(session, incident_id))


@router.get("/{incident_id}/timeline", summary="The incident's hash-chained timeline")
def read_timeline(incident_id: str, session: ReadSession, _principal: Reader) -> list[EventOut]:
    service.get(session, incident_id)
    return [EventOut.of(e) for e in timeline.events(session, incident_id)]


@router.get("/{incident_id}/clocks", summary="The incident's clocks")
def read_clocks(incident_id: str, session: ReadSession, _principal: Reader) -> list[ClockOut]:
    service.get(session, incident_id)
    return clock_service.clocks_of(session, incident_id)


@router.post("/{incident_id}/acknowledge", summary="Acknowledge an incident")
def acknowledge(
    incident_id: str, runtime: RuntimeDep, principal: Responder, body: AcknowledgeIn | None = None
) -> IncidentOut:
    with runtime.database.write_session() as session:
        at = body.at if body else None
        incident = incident_flows.acknowledge(
            session, incident_id=incident_id, actor=principal.name, at=at
        )
        return _out(session, incident)


@router.post("/{incident_id}/status", summary="Move the incident along its lifecycle")
def change_status(
    incident_id: str, body: StatusIn, runtime: RuntimeDep, principal: Responder
) -> IncidentOut:
    with runtime.database.write_session() as session:
        incident = incident_flows.change_status(
            session,
            incident_id=incident_id,
            status=body.status,
            message=body.message,
            actor=principal.name,
            at=body.at,
        )
        return _out(session, incident)


@router.post("/{incident_id}/severity", summary="Change severity, with a reason")
def change_severity(
    incident_id: str, body: SeverityIn, runtime: RuntimeDep, principal: Responder
) -> IncidentOut:
    with runtime.database.write_session() as session:
        incident = incident_flows.change_severity(
            session,
            incident_id=incident_id,
            severity=body.severity,
            reason=body.reason,
            actor=principal.name,
        )
        return _out(session, incident)


@router.post("/{incident_id}/roles", summary="Assign or clear a role")
def assign_role(
    incident_id: str, body: RoleIn, runtime: RuntimeDep, principal: Responder
) -> IncidentOut:
    with runtime.database.write_session() as session:
        incident = incident_flows.assign_role(
            session,
            incident_id=incident_id,
            role=body.role,
            assignee=body.assignee,
            actor=principal.name,
        )
        return _out(session, incident)


@router.post("/{incident_id}/notes", status_code=201, summary="Add a note to the timeline")
def add_note(
    incident_id: str, body: NoteIn, runtime: RuntimeDep, principal: Responder
) -> IncidentOut:
    with runtime.database.write_session() as session:
        incident = incident_flows.add_note(
            session, incident_id=incident_id, text=body.text, actor=principal.name
        )
        return _out(session, incident)


@router.post("/{incident_id}/updates", status_code=201, summary="Publish a stakeholder update")
def publish_update(
    incident_id: str, body: UpdateIn, runtime: RuntimeDep, principal: Responder
) -> IncidentOut:
    with runtime.database.write_session() as session:
        sent = communications.publish_update(
            session,
            incident_id=incident_id,
            message=body.message,
            actor=principal.name,
            sending=runtime.sending,
            audience=body.audience,
            template=body.template,
            fields=body.fields,
        )
        return _out(session, sent.incident)


@router.post("/{incident_id}/flags", summary="Set or clear flags (starts regulatory clocks)")
def set_flags(
    incident_id: str, body: FlagsIn, runtime: RuntimeDep, principal: Responder
) -> IncidentOut:
    with runtime.database.write_session() as session:
        incident = incident_flows.set_flags(
            session,
            incident_id=incident_id,
            flags=body.flags,
            aware_at=body.aware_at,
            actor=principal.name,
            sending=runtime.sending,
        )
        return _out(session, incident)


@router.post("/{incident_id}/clocks/{key}/complete", summary="Mark a clock's duty as done")
def complete_clock(
    incident_id: str, key: str, body: CompleteClockIn, runtime: RuntimeDep, principal: Responder
) -> IncidentOut:
    with runtime.database.write_session() as session:
        incident = incident_flows.complete_clock(
            session, incident_id=incident_id, key=key, note=body.note, actor=principal.name
        )
        return _out(session, incident)


@router.post("/{incident_id}/escalate", summary="Page the next escalation step now")
def escalate(incident_id: str, runtime: RuntimeDep, principal: Responder) -> IncidentOut:
    with runtime.database.write_session() as session:
        incident = incident_flows.escalate_now(
            session, incident_id=incident_id, actor=principal.name
        )
        return _out(session, incident)
