"""Publishing an update to its audience: the severity's update audience (or the one asked
for), through the policy's update template, numbered, with when the next one is due."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.comms import audiences, notices
from tocsin.comms.messages import Outgoing, Queued, Sending
from tocsin.comms.templates import context, minute, render
from tocsin.incidents import clocks as clock_service
from tocsin.incidents.models import Incident
from tocsin.policy.clock_kinds import UPDATE
from tocsin.policy.schema import Policy


def send_update(
    session: Session,
    *,
    incident: Incident,
    policy: Policy,
    number: int,
    message: str,
    at: datetime,
    sending: Sending,
    actor: str,
    audience: Sequence[str] = (),
    template: str | None = None,
    fields: Mapping[str, Any] | None = None,
) -> Queued:
    """Send update `number` to `audience` (default: the severity's update audience); an
    update with nobody to send to is only recorded (the runbook may name no audience)."""
    targets = list(audience) or list(policy.severity(incident.severity).update_audience)
    if not targets:
        return Queued()
    reach = audiences.resolve(
        session,
        policy=policy,
        incident=incident,
        targets=targets,
        directory=sending.directory,
        at=at,
    )
    values = context(
        incident,
        policy,
        base_url=sending.base_url,
        extra={
            "update": _update_values(session, incident, number, message, at),
            "fields": dict(fields or {}),
        },
    )
    chosen = template or policy.update_template_for(incident.severity)
    outgoing = Outgoing(
        key=f"update:{number}",
        kind="update",
        rendered=render(policy, chosen, "update", values),
        audience=targets,
        purpose="update",
    )
    return notices.deliver(
        session,
        incident=incident,
        policy=policy,
        outgoing=outgoing,
        reach=reach,
        sending=sending,
        at=at,
        actor=actor,
    )


def _update_values(
    session: Session, incident: Incident, number: int, message: str, at: datetime
) -> dict[str, Any]:
    due = [c.due_at for c in clock_service.pending(session, incident.id) if UPDATE.covers(c.kind)]
    next_due = min(due) if due else None
    minutes = round((next_due - at).total_seconds() / 60) if next_due else ""
    return {
        "number": number,
        "message": message,
        "timestamp": minute(at),
        "status": incident.status,
        "next_update_at": minute(next_due),
        "next_update_minutes": minutes,
    }
