"""Incident operations. These functions are the only code that writes incidents.

Each takes a session whose transaction the caller owns, locks the incident row it changes
(so timeline appends are serialised per incident), records the change in the timeline and
lets the clocks react.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.incidents import clocks as clock_service
from tocsin.incidents import lifecycle, timeline
from tocsin.incidents.chain import GENESIS_HASH, format_instant
from tocsin.incidents.ids import next_id
from tocsin.incidents.models import Clock, Incident
from tocsin.policy import registry
from tocsin.policy.deadlines import PlannedClock
from tocsin.policy.loader import LoadedPolicy
from tocsin.policy.schema import UnknownSeverity
from tocsin.timesource import now

# Which fact timestamp a status records when an incident first reaches it.
STATUS_FACTS = {"monitoring": "mitigated_at", "resolved": "resolved_at", "closed": "closed_at"}


# What another domain plans for a new incident (paging steps, the war room); see declare.
MoreClocks = Callable[[Incident], Sequence[PlannedClock]]


@dataclass(frozen=True)
class Declaration:
    title: str
    severity: str
    type: str | None = None
    summary: str = ""
    services: Sequence[str] = ()
    flags: Mapping[str, Any] | None = None
    impact_started_at: datetime | None = None
    detected_at: datetime | None = None


def _check_severity(loaded: LoadedPolicy, severity: str) -> None:
    try:
        loaded.policy.severity(severity)
    except UnknownSeverity:
        allowed = loaded.policy.severity_ids()
        raise InvalidInput(
            f"unknown severity {severity!r}; allowed (most severe first): {', '.join(allowed)}",
            field="severity",
            allowed=allowed,
        ) from None


def _check_type(loaded: LoadedPolicy, incident_type: str | None) -> None:
    allowed = loaded.policy.type_ids()
    if incident_type is not None and allowed and incident_type not in allowed:
        raise InvalidInput(
            f"unknown incident type {incident_type!r}; allowed: {', '.join(allowed)}",
            field="type",
            allowed=allowed,
        )


# Flags Tocsin itself sets when it declares a drill (tocsin.flows.drills): `drill` marks the
# incident as an exercise (kept off the status page and out of the metrics, its messages
# marked DRILL); `drill_audience` names the only audience its pages and messages go to.
DRILL_FLAGS = ("drill", "drill_audience")


def _check_flags(
    loaded: LoadedPolicy, flags: Mapping[str, Any], *, system: Sequence[str] = ()
) -> None:
    """A typo'd flag (`personal_data_breech`) would start no regulatory clock: refuse it."""
    allowed = loaded.policy.flag_ids()
    unknown = [flag for flag in flags if flag not in allowed and flag not in system]
    if unknown:
        raise InvalidInput(
            f"unknown flag {unknown[0]!r}; this policy's flags: {', '.join(allowed) or 'none'}",
            field="flags",
            allowed=allowed,
        )


def _check_not_after(field: str, value: datetime | None, limit: datetime, what: str) -> None:
    if value is not None and value > limit:
        raise InvalidInput(
            f"{field} ({format_instant(value)}) cannot be after {what} ({format_instant(limit)})",
            field=field,
        )


def declare(
    session: Session,
    *,
    loaded: LoadedPolicy,
    declaration: Declaration,
    actor: str,
    drill: bool = False,
    more_clocks: MoreClocks | None = None,
) -> Incident:
    """Declare an incident.

    1. Validate severity, type and the order of the given timestamps against the policy.
    2. Take the next id for today and store the incident under the policy's hash.
    3. Record `declared` in the timeline and start the clocks the policy sets, with those
       `more_clocks` plans for the new incident (another domain's), in one insert.
    """
    _check_severity(loaded, declaration.severity)
    _check_type(loaded, declaration.type)
    _check_flags(loaded, declaration.flags or {}, system=DRILL_FLAGS if drill else ())
    declared_at = now()
    detected_at = declaration.detected_at or declared_at
    _check_not_after("detected_at", detected_at, declared_at, "the declaration")
    _check_not_after("impact_started_at", declaration.impact_started_at, detected_at, "detection")
    registry.remember(session, loaded)
    incident = Incident(
        id=next_id(session, declared_at.date()),
        title=declaration.title,
        summary=declaration.summary,
        severity=declaration.severity,
        type=declaration.type,
        status="investigating",
        services=list(declaration.services),
        flags=dict(declaration.flags or {}),
        roles={},
        policy_name=loaded.policy.name,
        policy_hash=loaded.hash,
        declared_by=actor,
        impact_started_at=declaration.impact_started_at,
        detected_at=detected_at,
        declared_at=declared_at,
        last_event_seq=0,
        last_event_hash=GENESIS_HASH,
    )
    session.add(incident)
    # Appended before the first flush, so the incident row is inserted with its chain head
    # already set (one INSERT, not an INSERT and an UPDATE).
    timeline.append(
        session,
        incident=incident,
        kind="declared",
        actor=actor,
        at=declared_at,
        data=_declared_data(incident),
    )
    more = more_clocks(incident) if more_clocks is not None else ()
    clock_service.on_declared(session, incident=incident, loaded=loaded, more=more)
    return incident


def _declared_data(incident: Incident) -> dict[str, Any]:
    return {
        "title": incident.title,
        "summary": incident.summary,
        "severity": incident.severity,
        "type": incident.type,
        "services": incident.services,
        "flags": incident.flags,
        "policy_hash": incident.policy_hash,
        "detected_at": format_instant(incident.detected_at),
        "impact_started_at": (
            format_instant(incident.impact_started_at) if incident.impact_started_at else None
        ),
    }


def get(session: Session, incident_id: str) -> Incident:
    incident = session.scalar(select(Incident).where(Incident.id == incident_id))
    if incident is None:
        raise NotFound(f"no incident {incident_id}", field="id")
    return incident


def lock(session: Session, incident_id: str) -> Incident:
    """Load an incident for change, holding its row lock until the transaction ends."""
    query = select(Incident).where(Incident.id == incident_id).with_for_update()
    incident = session.scalar(query)
    if incident is None:
        raise NotFound(f"no incident {incident_id}", field="id")
    return incident


def list_incidents(
    session: Session,
    *,
    statuses: Sequence[str] = (),
    severities: Sequence[str] = (),
    limit: int = 50,
    before: int | None = None,
) -> list[Incident]:
    """Newest first. `before` is the opaque cursor (a row key) from the previous page."""
    query = select(Incident).order_by(Incident.pk.desc()).limit(limit)
    if statuses:
        query = query.where(Incident.status.in_(statuses))
    if severities:
        query = query.where(Incident.severity.in_(severities))
    if before is not None:
        query = query.where(Incident.pk < before)
    return list(session.scalars(query))


def policy_of(session: Session, incident: Incident) -> LoadedPolicy:
    return registry.by_hash(session, incident.policy_hash)


def _fact_time(incident: Incident, at: datetime | None, field: str) -> datetime:
    """The time a fact happened: now, or a given time that fits the incident's history."""
    current = now()
    if at is None:
        return current
    _check_not_after(field, at, current, "now")
    if at < incident.declared_at:
        raise InvalidInput(
            f"{field} ({format_instant(at)}) cannot be before the declaration "
            f"({format_instant(incident.declared_at)})",
            field=field,
        )
    return at


def acknowledge(
    session: Session, *, incident_id: str, actor: str, at: datetime | None = None
) -> Incident:
    incident = lock(session, incident_id)
    if incident.acknowledged_at is not None:
        raise Conflict(
            f"{incident.id} was already acknowledged by {incident.acknowledged_by} "
            f"at {format_instant(incident.acknowledged_at)}",
            field="acknowledged_at",
        )
    if incident.status == "closed":
        raise Conflict(f"{incident.id} is closed", field="status")
    incident.acknowledged_at = _fact_time(incident, at, "at")
    incident.acknowledged_by = actor
    timeline.append(
        session, incident=incident, kind="acknowledged", actor=actor, at=incident.acknowledged_at
    )
    clock_service.on_acknowledged(session, incident=incident)
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
    """Move along the lifecycle, recording the fact timestamp the new status stands for."""
    incident = lock(session, incident_id)
    previous = incident.status
    lifecycle.check_transition(previous, status)
    when = _fact_time(incident, at, "at")
    _check_after_facts(incident, when)
    _apply_status(incident, previous, status, when)
    kind = "reopened" if lifecycle.is_reopen(previous, status) else "status_changed"
    timeline.append(
        session,
        incident=incident,
        kind=kind,
        actor=actor,
        at=when,
        data={"from": previous, "to": status, "message": message},
    )
    clock_service.on_status_changed(session, incident=incident, previous=previous, at=when)
    return incident


def _check_after_facts(incident: Incident, when: datetime) -> None:
    latest = max(
        t for t in (incident.declared_at, incident.mitigated_at, incident.resolved_at) if t
    )
    if when < latest:
        raise InvalidInput(
            f"at ({format_instant(when)}) is before an earlier step of this incident "
            f"({format_instant(latest)}); facts must stay in order",
            field="at",
        )


def _apply_status(incident: Incident, previous: str, status: str, when: datetime) -> None:
    incident.status = status
    if lifecycle.is_reopen(previous, status):
        incident.resolved_at = None
        return
    if status in ("resolved", "closed") and incident.resolved_at is None:
        incident.resolved_at = when
    if status in ("monitoring", "resolved", "closed") and incident.mitigated_at is None:
        incident.mitigated_at = when
    if status == "closed":
        incident.closed_at = when


def change_severity(
    session: Session, *, incident_id: str, severity: str, reason: str, actor: str
) -> Incident:
    incident = lock(session, incident_id)
    loaded = policy_of(session, incident)
    _check_severity(loaded, severity)
    if incident.status == "closed":
        raise Conflict(f"{incident.id} is closed; its severity is final", field="status")
    if severity == incident.severity:
        raise Conflict(f"{incident.id} is already {severity}", field="severity")
    previous, incident.severity = incident.severity, severity
    timeline.append(
        session,
        incident=incident,
        kind="severity_changed",
        actor=actor,
        at=now(),
        data={"from": previous, "to": severity, "reason": reason},
    )
    clock_service.on_severity_changed(session, incident=incident, loaded=loaded)
    return incident


def assign_role(
    session: Session, *, incident_id: str, role: str, assignee: str | None, actor: str
) -> Incident:
    """Give a role to someone, or take it away with `assignee=None`."""
    incident = lock(session, incident_id)
    allowed = policy_of(session, incident).policy.role_ids()
    if role not in allowed:
        raise InvalidInput(
            f"unknown role {role!r}; this policy's roles: {', '.join(allowed)}",
            field="role",
            allowed=allowed,
        )
    roles = dict(incident.roles)
    previous = roles.pop(role, None)
    if assignee:
        roles[role] = assignee
    incident.roles = roles
    timeline.append(
        session,
        incident=incident,
        kind="role_assigned" if assignee else "role_unassigned",
        actor=actor,
        at=now(),
        data={"role": role, "assignee": assignee, "previous": previous},
    )
    return incident


def add_note(session: Session, *, incident_id: str, text: str, actor: str) -> Incident:
    incident = lock(session, incident_id)
    timeline.append(
        session, incident=incident, kind="note", actor=actor, at=now(), data={"text": text}
    )
    return incident


@dataclass(frozen=True)
class Published:
    incident: Incident
    number: int  # 1 for the incident's first update
    at: datetime


def publish_update(
    session: Session,
    *,
    incident_id: str,
    message: str,
    actor: str,
    audience: Sequence[str] = (),
) -> Published:
    """Record a stakeholder update; the update clocks it answers are met and re-armed from
    now (every update clock, or those owed to `audience`)."""
    incident = lock(session, incident_id)
    if incident.status == "closed":
        raise Conflict(f"{incident.id} is closed", field="status")
    at = now()
    number = 1 + timeline.count(session, incident.id, kind="update_published")
    data: dict[str, Any] = {"message": message, "status": incident.status, "number": number}
    if audience:
        data["audience"] = list(audience)
    timeline.append(
        session, incident=incident, kind="update_published", actor=actor, at=at, data=data
    )
    clock_service.on_update_published(
        session, incident=incident, at=at, actor=actor, audience=audience
    )
    return Published(incident, number, at)


def set_flags(
    session: Session,
    *,
    incident_id: str,
    flags: Mapping[str, Any],
    actor: str,
    aware_at: datetime | None = None,
) -> tuple[Incident, list[Clock]]:
    """Set or clear flags (null clears). Flags such as `personal_data_breach` start the
    regulatory clocks they trigger, counted from `aware_at` (default: now); returns the
    incident and the clocks started."""
    incident = lock(session, incident_id)
    _check_flags(policy_of(session, incident), flags)
    current = now()
    _check_not_after("aware_at", aware_at, current, "now")
    aware = aware_at or current
    incident.flags = clock_service.flags_merge(incident.flags, flags)
    timeline.append(
        session,
        incident=incident,
        kind="flags_changed",
        actor=actor,
        at=current,
        data={"changes": dict(flags), "aware_at": format_instant(aware)},
    )
    started = clock_service.on_flags_changed(session, incident=incident, aware_at=aware)
    return incident, started


def complete_clock(
    session: Session, *, incident_id: str, key: str, note: str, actor: str
) -> Incident:
    incident = lock(session, incident_id)
    clock_service.complete(session, incident=incident, key=key, actor=actor, note=note)
    return incident


def escalate_now(session: Session, *, incident_id: str, actor: str) -> Incident:
    """Page the next escalation step at once instead of waiting for its delay."""
    incident = lock(session, incident_id)
    if incident.acknowledged_at is not None or incident.status in ("resolved", "closed"):
        raise Conflict(f"{incident.id} is acknowledged or over; nothing to escalate", field="id")
    clock_service.escalate_now(session, incident=incident, actor=actor)
    return incident
