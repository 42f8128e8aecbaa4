"""Clocks: the deadlines a policy attaches to an incident, and how incident events settle them.

States: `pending` until settled; `met` when the event it waits for happens in time; `breached`
when its due time passes first (recorded by the engine, or on the late event itself if the
engine was down); `fired` when an escalation step comes due; `cancelled` when it no longer
applies. Every settlement is a timeline event, so the chain records what each clock did.

Rules the runbook leaves open, chosen here and documented in docs/clocks.md:
- A severity change adds what the new severity owes and keeps what is still owed: the
  stricter of the old and new acknowledge, update and resolve targets stands; the old
  severity's pending stages and steps stay and the new severity's are added from the change.
- Resolving meets the resolve clock, cancels what only a live incident needs (acknowledge,
  update, escalation, and the stages not owed after resolution) and starts the resolution
  stages. Regulatory clocks keep running: the regulator is owed a notice whether or not the
  incident is over. The review and its clock are the reviews domain's (tocsin.reviews),
  opened by tocsin.flows.incidents.
- Reopening starts new update and resolve clocks from then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from tocsin.db import wakeup
from tocsin.errors import Conflict, NotFound
from tocsin.incidents import timeline
from tocsin.incidents.chain import format_instant
from tocsin.incidents.models import Clock, Incident
from tocsin.incidents.schemas import ClockOut
from tocsin.policy import registry
from tocsin.policy.clock_kinds import (
    COMMS,
    COMMS_OPEN,
    ESCALATION,
    RESOLVE,
    UPDATE,
    ClockKind,
    OnDue,
    OnSeverityChange,
    kind_of,
    regulatory_kind,
)
from tocsin.policy.deadlines import (
    PlannedClock,
    plan_incident_clocks,
    plan_regulatory_clocks,
    plan_stage_clocks,
    plan_update_clocks,
    stage_of,
)
from tocsin.policy.loader import LoadedPolicy
from tocsin.policy.schema import Policy
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


def _row_values(incident: Incident, planned: PlannedClock, starts_at: datetime) -> dict[str, Any]:
    warns = kind_of(planned.kind).warns
    lead = warning_lead(planned.due_at - starts_at) if warns else None
    warn_at = planned.due_at - lead if lead else None
    return {
        "subject_type": SUBJECT,
        "subject_id": incident.id,
        "incident_id": incident.id,
        "kind": planned.kind,
        "key": planned.key,
        "action": planned.action,
        "label": planned.label,
        "targets": list(planned.targets),
        "stop_on": planned.stop_on,
        "state": "pending",
        "starts_at": starts_at,
        "due_at": planned.due_at,
        "warn_at": warn_at,
        "next_check_at": warn_at or planned.due_at,
    }


def start(
    session: Session, incident: Incident, planned: Iterable[PlannedClock], starts_at: datetime
) -> list[Clock]:
    """Start planned clocks on an incident; the engine looks again once this commits."""
    rows = [Clock(**_row_values(incident, p, starts_at)) for p in planned]
    session.add_all(rows)
    session.flush()
    if rows:
        wakeup.after_commit(session)
    return rows


def start_all(
    session: Session, incident: Incident, planned: Sequence[PlannedClock], starts_at: datetime
) -> None:
    """Start planned clocks with one multi-row INSERT and no ORM objects, in the order given
    (which orders their ids, the tie-break of every clock query). For declaring, where a
    storm declares hundreds of incidents a second and nothing reads the new rows back as
    objects: ORM instances and a flush per group of clocks were a third of a declaration."""
    if not planned:
        return
    # render_nulls: rows with and without a warning time stay one statement, not a batch
    # for each pattern of NULLs.
    statement = insert(Clock).execution_options(render_nulls=True)
    session.execute(statement, [_row_values(incident, p, starts_at) for p in planned])
    wakeup.after_commit(session)


def start_for_subject(
    session: Session,
    *,
    subject_type: str,
    subject_id: str,
    incident_id: str | None,
    kind: str,
    key: str,
    action: str,
    label: str,
    stop_on: str | None,
    starts_at: datetime,
    due_at: datetime,
    warn_at: datetime | None,
) -> Clock:
    """Start one clock about a subject other than an incident (a review, an action item, a
    drill, the runbook); `incident_id` puts its settlement on that incident's timeline."""
    clock = Clock(
        subject_type=subject_type,
        subject_id=subject_id,
        incident_id=incident_id,
        kind=kind,
        key=key,
        action=action,
        label=label,
        targets=[],
        stop_on=stop_on,
        state="pending",
        starts_at=starts_at,
        due_at=due_at,
        warn_at=warn_at,
        next_check_at=warn_at or due_at,
    )
    session.add(clock)
    session.flush()
    wakeup.after_commit(session)
    return clock


def pending(session: Session, incident_id: str) -> list[Clock]:
    query = select(Clock).where(Clock.incident_id == incident_id, Clock.state == "pending")
    return list(session.scalars(query.order_by(Clock.due_at, Clock.id)))


def pending_of(session: Session, incident_id: str, kind: ClockKind) -> list[Clock]:
    """The pending clocks of one kind (or family), chosen by the database: a declaration
    asks for its regulatory clocks, and most incidents have none to load."""
    of_kind = Clock.kind == kind.key
    if kind.family:
        of_kind = or_(of_kind, Clock.kind.like(f"{kind.key}:%"))
    query = select(Clock).where(Clock.incident_id == incident_id, Clock.state == "pending")
    return list(session.scalars(query.where(of_kind).order_by(Clock.due_at, Clock.id)))


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
    session: Session,
    *,
    incident: Incident,
    clock: Clock,
    state: str,
    at: datetime,
    actor: str,
    event: str | None = None,
) -> None:
    """Record a clock's end in its row and in the timeline, in the caller's transaction;
    `event` names the timeline event when the state's own ("escalated" for a fired step) would
    mislead."""
    clock.state = state
    clock.settled_at = clock.due_at if state == "breached" else at
    kind = event or {"met": "clock_met", "breached": "clock_breached", "fired": "escalated"}[state]
    timeline.append(
        session, incident=incident, kind=kind, actor=actor, at=now(), data=_clock_data(clock)
    )


def cancel(
    session: Session, *, incident: Incident, clocks: list[Clock], reason: str, actor: str
) -> None:
    """Cancel pending clocks that no longer apply, in one timeline event."""
    _cancel(session, incident, clocks, reason, actor)


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


def on_declared(
    session: Session,
    *,
    incident: Incident,
    loaded: LoadedPolicy,
    more: Sequence[PlannedClock] = (),
) -> None:
    """Start the clocks the policy sets from the declaration, then `more` (what other domains
    plan from it: the escalation policy's paging steps, the war room), in one insert."""
    at = incident.declared_at
    planned = plan_incident_clocks(loaded.policy, incident.severity, at)
    planned += _regulatory(loaded, incident, aware_at=at)
    start_all(session, incident, [*planned, *more], at)


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
    """1. Meet (or breach) the resolve clock. 2. Cancel what only a live incident needs,
    keeping the communication stages the policy says are owed after resolution (legal,
    leadership, customers). 3. Start the resolution stages (resolution notices). The review
    is opened by tocsin.flows.incidents (tocsin.reviews owns it and its clock)."""
    _stop(session, incident, "resolved", at, ENGINE_ACTOR)
    policy = _policy(session, incident).policy
    live = [c for c in pending(session, incident.id) if _ends_with_incident(policy, c)]
    _cancel(session, incident, live, "incident resolved", ENGINE_ACTOR)
    planned = plan_stage_clocks(policy, incident.severity, at, starts_from="resolved")
    start(session, incident, planned, at)


def _ends_with_incident(policy: Policy, clock: Clock) -> bool:
    if not kind_of(clock.kind).ends_with_incident:
        return False
    found = (
        stage_of(policy, clock.key)
        if COMMS.covers(clock.kind) or COMMS_OPEN.covers(clock.kind)
        else None
    )
    return found is None or not found[1].owed_after_resolution


def _on_reopened(session: Session, incident: Incident, at: datetime) -> None:
    """Cancel the resolution notices not yet out; owe updates and a resolution again from
    the reopen (the review's clock is the reviews domain's, paused by the flow)."""
    policy = _policy(session, incident).policy
    stale = [c for c in pending(session, incident.id) if _is_resolution_stage(policy, c)]
    _cancel(session, incident, stale, "incident reopened", ENGINE_ACTOR)
    planned = plan_incident_clocks(policy, incident.severity, at)
    start(session, incident, [p for p in planned if p.kind in REOPEN_KINDS], at)


def _is_resolution_stage(policy: Policy, clock: Clock) -> bool:
    found = stage_of(policy, clock.key)
    return found is not None and found[1].starts_from == "resolved"


def on_severity_changed(session: Session, *, incident: Incident, loaded: LoadedPolicy) -> None:
    """Add what the new severity owes and keep what is still owed (docs/clocks.md):
    acknowledge, update and resolve keep the stricter of their old and new due times; stages
    and escalation steps of the old severity stay, and the new severity's are added from now.
    After resolution nothing here changes (the flow re-plans the review's due date)."""
    at = now()
    if incident.resolved_at is not None:
        return
    known = {c.key: c for c in all_clocks(session, incident.id)}
    live = {c.key: c for c in pending(session, incident.id)}
    reason = f"severity changed to {incident.severity}"
    for planned in plan_incident_clocks(loaded.policy, incident.severity, at):
        if planned.stop_on == "acknowledged" and incident.acknowledged_at is not None:
            continue
        rule = kind_of(planned.kind).on_severity_change
        if rule is OnSeverityChange.TIGHTEN:
            _tighten(session, incident, planned, live.get(planned.key), known, at, reason)
        elif rule is OnSeverityChange.ADD and planned.key not in known:
            start(session, incident, [planned], at)


def _tighten(
    session: Session,
    incident: Incident,
    planned: PlannedClock,
    current: Clock | None,
    known: Mapping[str, Clock],
    at: datetime,
    reason: str,
) -> None:
    """One clock of this key per incident: the stricter due time stands. An update clock is
    always re-armed (the cadence survives every change); an acknowledge or resolve clock that
    is already settled stays settled."""
    if current is None:
        if planned.key in known and not UPDATE.covers(planned.kind):
            return
        start(session, incident, [planned], at)
    elif planned.due_at < current.due_at:
        _cancel(session, incident, [current], reason, ENGINE_ACTOR)
        start(session, incident, [planned], at)


def on_update_published(
    session: Session,
    *,
    incident: Incident,
    at: datetime,
    actor: str,
    audience: Sequence[str] = (),
) -> list[Clock]:
    """An update went out: meet the update clocks it answers and re-arm them from now.

    See `_answers` for which update clocks an update answers. Returns the clocks it met."""
    waiting = [c for c in pending(session, incident.id) if c.stop_on == "updated"]
    answered = [c for c in waiting if _answers(c, audience)]
    for clock in answered:
        state = "met" if at <= clock.due_at else "breached"
        settle(session, incident=incident, clock=clock, state=state, at=at, actor=actor)
    if incident.resolved_at is None:
        policy = _policy(session, incident).policy
        keys = {c.key for c in answered} if audience else None
        follow_ups = plan_update_clocks(policy, incident.severity, at)
        start(session, incident, [p for p in follow_ups if keys is None or p.key in keys], at)
    return answered


def _answers(clock: Clock, audience: Sequence[str]) -> bool:
    """An update to no audience in particular answers every update clock; one to an audience
    answers the clocks owed to it, and those owed to nobody in particular."""
    return not audience or not clock.targets or bool(set(clock.targets) & set(audience))


def meet(session: Session, *, incident: Incident, key: str, actor: str, at: datetime) -> bool:
    """The duty a pending clock waits for was done (a stage's messages are all out): met if
    in time, breached if late. False if no such clock is pending."""
    clock = next((c for c in pending(session, incident.id) if c.key == key), None)
    if clock is None:
        return False
    state = "met" if at <= clock.due_at else "breached"
    settle(session, incident=incident, clock=clock, state=state, at=at, actor=actor)
    return True


def on_flags_changed(session: Session, *, incident: Incident, aware_at: datetime) -> list[Clock]:
    """Start the regulatory clocks that the incident's flags now trigger (once each)."""
    known = {c.key for c in all_clocks(session, incident.id)}
    loaded = _policy(session, incident)
    planned = [p for p in _regulatory(loaded, incident, aware_at) if p.key not in known]
    return start(session, incident, planned, aware_at)


def complete(session: Session, *, incident: Incident, key: str, actor: str, note: str) -> Clock:
    """A person did what a clock asks (notified the regulator, held the review, ...)."""
    clock = next((c for c in pending(session, incident.id) if c.key == key), None)
    if clock is not None and clock.subject_type != SUBJECT:
        raise Conflict(
            f"clock {key} belongs to the {clock.subject_type.replace('_', ' ')}; "
            "settle it there (tocsin review, tocsin actions)",
            field="key",
        )
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
