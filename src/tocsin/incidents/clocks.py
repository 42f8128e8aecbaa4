"""Clocks: the deadlines a policy attaches to an incident, and how incident events settle them.

States: `pending` until settled; `met` when the event it waits for happens in time; `breached`
when its due time passes first (recorded by the engine, or on the late event itself if the
engine was down); `fired` when an escalation step comes due; `cancelled` when it no longer
applies. Every settlement is a timeline event, so the chain records what each clock did.

Rules the runbook leaves open, chosen here and documented in docs/clocks.md:
- A severity change cancels the pending clocks of the old severity and plans the new
  severity's from the moment of the change; settled clocks stay as they were.
- Resolving meets the resolve clock, cancels acknowledge/update/escalation/comms clocks and
  starts the review clock. Regulatory clocks keep running: the regulator is owed a notice
  whether or not the incident is over.
- Reopening cancels the review clock and starts new update and resolve clocks from then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.db import wakeup
from tocsin.errors import Conflict, NotFound
from tocsin.incidents import timeline
from tocsin.incidents.chain import format_instant
from tocsin.incidents.models import Clock, Incident
from tocsin.incidents.schemas import ClockOut
from tocsin.policy import registry
from tocsin.policy.clock_kinds import (
    ESCALATION,
    RESOLVE,
    REVIEW,
    UPDATE,
    OnDue,
    kind_of,
    regulatory_kind,
)
from tocsin.policy.deadlines import (
    PlannedClock,
    plan_incident_clocks,
    plan_regulatory_clocks,
    plan_review_clock,
    plan_update_clock,
)
from tocsin.policy.loader import LoadedPolicy
from tocsin.timesource import now

ENGINE_ACTOR = "tocsin"
SUBJECT = "incident"
# A reopened incident owes updates and a resolution again (not a second acknowledgement).
REOPEN_KINDS = (UPDATE.key, RESOLVE.key)
WARN_SHARE = 0.2
WARN_MIN, WARN_MAX = timedelta(minutes=1), timedelta(hours=4)


def warning_lead(span: timedelta) -> timedelta | None:
    """How long before the due time to warn: a fifth of the span, within 1 minute .. 4 hours.

    A clock shorter than two minutes (or due at once) gets no warning: there is no useful
    "before" to warn in.
    """
    if span < 2 * WARN_MIN:
        return None
    return min(max(span * WARN_SHARE, WARN_MIN), WARN_MAX)


def _to_row(incident: Incident, planned: PlannedClock, starts_at: datetime) -> Clock:
    warns = kind_of(planned.kind).warns
    lead = warning_lead(planned.due_at - starts_at) if warns else None
    warn_at = planned.due_at - lead if lead else None
    return Clock(
        subject_type=SUBJECT,
        subject_id=incident.id,
        incident_id=incident.id,
        kind=planned.kind,
        key=planned.key,
        action=planned.action,
        label=planned.label,
        targets=list(planned.targets),
        stop_on=planned.stop_on,
        state="pending",
        starts_at=starts_at,
        due_at=planned.due_at,
        warn_at=warn_at,
        next_check_at=warn_at or planned.due_at,
    )


def start(
    session: Session, incident: Incident, planned: Iterable[PlannedClock], starts_at: datetime
) -> list[Clock]:
    """Start planned clocks on an incident; the engine looks again once this commits."""
    rows = [_to_row(incident, p, starts_at) for p in planned]
    session.add_all(rows)
    session.flush()
    if rows:
        wakeup.after_commit(session)
    return rows


def pending(session: Session, incident_id: str) -> list[Clock]:
    query = select(Clock).where(Clock.incident_id == incident_id, Clock.state == "pending")
    return list(session.scalars(query.order_by(Clock.due_at, Clock.id)))


def all_clocks(session: Session, incident_id: str) -> list[Clock]:
    query = select(Clock).where(Clock.incident_id == incident_id)
    return list(session.scalars(query.order_by(Clock.due_at, Clock.id)))


def clocks_of(session: Session, incident_id: str) -> list[ClockOut]:
    return [
        ClockOut(
            kind=c.kind,
            key=c.key,
            due_at=c.due_at,
            state=c.state,
            action=c.action,
            label=c.label,
            targets=c.targets,
            settled_at=c.settled_at,
            warn_at=c.warn_at,
        )
        for c in all_clocks(session, incident_id)
    ]


def _clock_data(clock: Clock, **extra: Any) -> dict[str, Any]:
    return {
        "key": clock.key,
        "kind": clock.kind,
        "label": clock.label,
        "due_at": format_instant(clock.due_at),
        "targets": clock.targets,
        **extra,
    }


def settle(
    session: Session, *, incident: Incident, clock: Clock, state: str, at: datetime, actor: str
) -> None:
    """Record a clock's end in its row and in the timeline, in the caller's transaction."""
    clock.state = state
    clock.settled_at = clock.due_at if state == "breached" else at
    kind = {"met": "clock_met", "breached": "clock_breached", "fired": "escalated"}[state]
    timeline.append(
        session, incident=incident, kind=kind, actor=actor, at=now(), data=_clock_data(clock)
    )


def _cancel(
    session: Session, incident: Incident, clocks: list[Clock], reason: str, actor: str
) -> None:
    if not clocks:
        return
    at = now()
    for clock in clocks:
        clock.state, clock.settled_at = "cancelled", at
    timeline.append(
        session,
        incident=incident,
        kind="clocks_cancelled",
        actor=actor,
        at=at,
        data={"keys": [c.key for c in clocks], "reason": reason},
    )


def _stop(session: Session, incident: Incident, event: str, at: datetime, actor: str) -> None:
    """The incident event `event` happened at `at`: settle every clock waiting for it.

    Deadlines are met if the event came in time and breached (late) otherwise; escalation
    steps that have not fired yet are no longer needed.
    """
    waiting = [c for c in pending(session, incident.id) if c.stop_on == event]
    steps = [c for c in waiting if kind_of(c.kind).on_due is OnDue.FIRE]
    for clock in waiting:
        if clock not in steps:
            state = "met" if at <= clock.due_at else "breached"
            settle(session, incident=incident, clock=clock, state=state, at=at, actor=actor)
    _cancel(session, incident, steps, f"incident {event}", actor)


def _policy(session: Session, incident: Incident) -> LoadedPolicy:
    return registry.by_hash(session, incident.policy_hash)


def on_declared(session: Session, *, incident: Incident, loaded: LoadedPolicy) -> None:
    """Start the clocks the policy sets from the declaration (the escalation policy's paging
    steps are on-call's, started by tocsin.flows.incidents.declare)."""
    at = incident.declared_at
    planned = plan_incident_clocks(loaded.policy, incident.severity, at)
    planned += _regulatory(loaded, incident, aware_at=at)
    start(session, incident, planned, at)


def _regulatory(loaded: LoadedPolicy, incident: Incident, aware_at: datetime) -> list[PlannedClock]:
    """Regimes the incident now triggers. Each counts from the fact its `from` names: the
    declaration, or the awareness/confirmation moment given with the flag (`aware_at`)."""
    planned = plan_regulatory_clocks(
        loaded.policy,
        flags=incident.flags,
        incident_type=incident.type,
        severity_id=incident.severity,
        aware_at=aware_at,
    )
    regimes = {regulatory_kind(r.id): r for r in loaded.policy.regulatory}
    calendar = loaded.policy.calendar()
    return [
        replace(p, due_at=calendar.add(incident.declared_at, regime.within))
        if (regime := regimes[p.key]).from_ == "declared" and regime.within is not None
        else p
        for p in planned
    ]


def on_acknowledged(session: Session, *, incident: Incident) -> None:
    """Meets the acknowledge clock and stops the escalation steps waiting for it."""
    assert incident.acknowledged_at is not None
    actor = incident.acknowledged_by or ENGINE_ACTOR
    _stop(session, incident, "acknowledged", incident.acknowledged_at, actor)


def escalate_now(session: Session, *, incident: Incident, actor: str) -> Clock:
    """Bring the next pending escalation step forward to now."""
    steps = [c for c in pending(session, incident.id) if ESCALATION.covers(c.kind)]
    if not steps:
        raise Conflict(f"{incident.id} has no pending escalation step", field="id")
    step = min(steps, key=lambda c: (c.due_at, c.id))
    at = now()
    step.due_at = step.next_check_at = at
    timeline.append(
        session,
        incident=incident,
        kind="escalated_now",
        actor=actor,
        at=at,
        data={"key": step.key, "label": step.label},
    )
    wakeup.after_commit(session)
    return step


def on_status_changed(session: Session, *, incident: Incident, previous: str, at: datetime) -> None:
    if incident.status == "investigating" and previous == "resolved":
        _on_reopened(session, incident, at)
    elif incident.status in ("resolved", "closed") and previous not in ("resolved", "closed"):
        _on_resolved(session, incident, at)


def _on_resolved(session: Session, incident: Incident, at: datetime) -> None:
    """1. Meet (or breach) the resolve clock. 2. Cancel what only a live incident needs.
    3. Start the review clock if the severity requires a review."""
    _stop(session, incident, "resolved", at, ENGINE_ACTOR)
    live = [c for c in pending(session, incident.id) if kind_of(c.kind).ends_with_incident]
    _cancel(session, incident, live, "incident resolved", ENGINE_ACTOR)
    review = plan_review_clock(_policy(session, incident).policy, incident.severity, at)
    if review is not None:
        start(session, incident, [review], at)


def _on_reopened(session: Session, incident: Incident, at: datetime) -> None:
    reviews = [c for c in pending(session, incident.id) if REVIEW.covers(c.kind)]
    _cancel(session, incident, reviews, "incident reopened", ENGINE_ACTOR)
    planned = plan_incident_clocks(_policy(session, incident).policy, incident.severity, at)
    start(session, incident, [p for p in planned if p.kind in REOPEN_KINDS], at)


def on_severity_changed(session: Session, *, incident: Incident, loaded: LoadedPolicy) -> None:
    at = now()
    if incident.resolved_at is not None:
        _replan_review(session, incident, loaded)
        return
    old = [c for c in pending(session, incident.id) if kind_of(c.kind).replanned_on_severity]
    _cancel(session, incident, old, f"severity changed to {incident.severity}", ENGINE_ACTOR)
    settled_keys = {c.key for c in all_clocks(session, incident.id) if c.state != "cancelled"}
    planned = [
        p
        for p in plan_incident_clocks(loaded.policy, incident.severity, at)
        if p.key not in settled_keys
        and not (p.stop_on == "acknowledged" and incident.acknowledged_at is not None)
    ]
    start(session, incident, planned, at)


def _replan_review(session: Session, incident: Incident, loaded: LoadedPolicy) -> None:
    reviews = [c for c in pending(session, incident.id) if REVIEW.covers(c.kind)]
    _cancel(session, incident, reviews, f"severity changed to {incident.severity}", ENGINE_ACTOR)
    assert incident.resolved_at is not None
    review = plan_review_clock(loaded.policy, incident.severity, incident.resolved_at)
    if review is not None:
        start(session, incident, [review], incident.resolved_at)


def on_update_published(session: Session, *, incident: Incident, at: datetime, actor: str) -> None:
    """An update went out: meet the update clock and arm the next one from this update."""
    _stop(session, incident, "updated", at, actor)
    if incident.resolved_at is None:
        follow_up = plan_update_clock(_policy(session, incident).policy, incident.severity, at)
        if follow_up is not None:
            start(session, incident, [follow_up], at)


def on_flags_changed(session: Session, *, incident: Incident, aware_at: datetime) -> list[Clock]:
    """Start the regulatory clocks that the incident's flags now trigger (once each)."""
    known = {c.key for c in all_clocks(session, incident.id)}
    loaded = _policy(session, incident)
    planned = [p for p in _regulatory(loaded, incident, aware_at) if p.key not in known]
    return start(session, incident, planned, aware_at)


def complete(session: Session, *, incident: Incident, key: str, actor: str, note: str) -> Clock:
    """A person did what a clock asks (notified the regulator, held the review, ...)."""
    clock = next((c for c in pending(session, incident.id) if c.key == key), None)
    if clock is None:
        keys = [c.key for c in pending(session, incident.id)]
        if any(c.key == key for c in all_clocks(session, incident.id)):
            raise Conflict(f"clock {key} is already settled", field="key", allowed=keys)
        raise NotFound(f"no clock {key} on {incident.id}", field="key", allowed=keys)
    at = now()
    clock.note = note
    state = "met" if at <= clock.due_at else "breached"
    settle(session, incident=incident, clock=clock, state=state, at=at, actor=actor)
    return clock


def flags_merge(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """New flags over old; a flag set to null is removed."""
    merged = {**current, **changes}
    return {k: v for k, v in merged.items() if v is not None}
