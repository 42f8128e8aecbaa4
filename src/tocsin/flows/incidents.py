"""Incident use cases: what happens across domains when people (or alerts) act on an incident.

Each flow runs in the caller's transaction and takes the same arguments as the incident
service it extends. `tocsin.incidents.service` records the change and settles the clocks
the policy sets; these flows add what other domains owe the change: the escalation policy's
paging steps (on-call) and the pages not yet sent (the outbox).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.incidents import clocks
from tocsin.incidents import service as incident_service
from tocsin.incidents.models import Incident
from tocsin.incidents.service import Declaration
from tocsin.notify import outbox
from tocsin.oncall import paging
from tocsin.policy.loader import LoadedPolicy

__all__ = [
    "Declaration",
    "acknowledge",
    "add_note",
    "assign_role",
    "change_severity",
    "change_status",
    "complete_clock",
    "declare",
    "escalate_now",
    "publish_update",
    "set_flags",
]


def declare(
    session: Session, *, loaded: LoadedPolicy, declaration: Declaration, actor: str
) -> Incident:
    """1. Record the incident and start the clocks its policy sets.
    2. If its severity pages, start the escalation policy's steps for its services.
    3. The engine is woken once this commits (starting a clock asks for that)."""
    incident = incident_service.declare(
        session, loaded=loaded, declaration=declaration, actor=actor
    )
    if loaded.policy.severity(incident.severity).pages:
        at = incident.declared_at
        clocks.start(session, incident, paging.policy_step_clocks(session, incident, at), at)
    return incident


def acknowledge(
    session: Session, *, incident_id: str, actor: str, at: datetime | None = None
) -> Incident:
    """1. Record the acknowledgement, meeting its clock and stopping the escalation steps.
    2. Cancel the pages not yet sent (delayed notification rules): nobody else is woken."""
    incident = incident_service.acknowledge(session, incident_id=incident_id, actor=actor, at=at)
    outbox.cancel_pending(session, incident_id=incident.id, purpose="page")
    return incident


def change_status(
    session: Session,
    *,
    incident_id: str,
    status: str,
    message: str,
    actor: str,
    at: datetime | None = None,
) -> Incident:
    return incident_service.change_status(
        session, incident_id=incident_id, status=status, message=message, actor=actor, at=at
    )


def change_severity(
    session: Session, *, incident_id: str, severity: str, reason: str, actor: str
) -> Incident:
    return incident_service.change_severity(
        session, incident_id=incident_id, severity=severity, reason=reason, actor=actor
    )


def assign_role(
    session: Session, *, incident_id: str, role: str, assignee: str | None, actor: str
) -> Incident:
    return incident_service.assign_role(
        session, incident_id=incident_id, role=role, assignee=assignee, actor=actor
    )


def add_note(session: Session, *, incident_id: str, text: str, actor: str) -> Incident:
    return incident_service.add_note(session, incident_id=incident_id, text=text, actor=actor)


def publish_update(session: Session, *, incident_id: str, message: str, actor: str) -> Incident:
    return incident_service.publish_update(
        session, incident_id=incident_id, message=message, actor=actor
    )


def set_flags(
    session: Session,
    *,
    incident_id: str,
    flags: Mapping[str, Any],
    actor: str,
    aware_at: datetime | None = None,
) -> Incident:
    return incident_service.set_flags(
        session, incident_id=incident_id, flags=flags, actor=actor, aware_at=aware_at
    )


def complete_clock(
    session: Session, *, incident_id: str, key: str, note: str, actor: str
) -> Incident:
    return incident_service.complete_clock(
        session, incident_id=incident_id, key=key, note=note, actor=actor
    )


def escalate_now(session: Session, *, incident_id: str, actor: str) -> Incident:
    return incident_service.escalate_now(session, incident_id=incident_id, actor=actor)
