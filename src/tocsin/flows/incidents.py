"""Incident use cases: what happens across domains when people (or alerts) act on an incident.

Each flow runs in the caller's transaction and takes the same arguments as the incident
service it extends. `tocsin.incidents.service` records the change and settles the clocks
the policy sets; these flows add what other domains owe the change: the escalation policy's
paging steps (on-call), the pages not yet sent (the outbox), the war room and the notices
a new obligation brings (communications). Publishing an update is in
tocsin.flows.communications.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.comms import notices, stages, warroom
from tocsin.comms.messages import Sending
from tocsin.errors import Conflict
from tocsin.flows import reviews as review_flows
from tocsin.incidents import clocks
from tocsin.incidents import service as incident_service
from tocsin.incidents.models import Clock, Incident
from tocsin.incidents.service import Declaration
from tocsin.notify import outbox
from tocsin.oncall import paging
from tocsin.policy.clock_kinds import REGULATORY, REVIEW
from tocsin.policy.deadlines import PlannedClock
from tocsin.policy.loader import LoadedPolicy
from tocsin.policy.schema import Policy
from tocsin.reviews import service as review_service
from tocsin.timesource import now

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
    "set_flags",
]


def declare(
    session: Session,
    *,
    loaded: LoadedPolicy,
    declaration: Declaration,
    actor: str,
    sending: Sending | None = None,
    drill: bool = False,
) -> Incident:
    """1. Record the incident and start the clocks its policy sets, together with:
       - if its severity pages, the escalation policy's steps for its services (not for a
         drill sent only to a drill audience: tocsin.flows.drills tells that audience);
       - opening the war room (the engine does it at once).
    2. Tell the security or compliance lead of each regulatory notice its flags already owe.
    3. The engine is woken once this commits (starting a clock asks for that)."""

    def owed_by_others(incident: Incident) -> list[PlannedClock]:
        at = incident.declared_at
        steps: list[PlannedClock] = []
        if loaded.policy.severity(incident.severity).pages and _pages_people(incident):
            steps = paging.policy_step_clocks(session, incident, at)
        return steps + warroom.plan(loaded.policy, at)

    incident = incident_service.declare(
        session,
        loaded=loaded,
        declaration=declaration,
        actor=actor,
        drill=drill,
        more_clocks=owed_by_others,
    )
    if sending is not None:
        owed = clocks.pending_of(session, incident.id, REGULATORY)
        _announce(session, incident, loaded.policy, owed, sending)
    return incident


def _announce(
    session: Session, incident: Incident, policy: Policy, started: list[Clock], sending: Sending
) -> None:
    for clock in started:
        notices.tell(
            session,
            policy=policy,
            incident=incident,
            clock=clock,
            kind="started",
            sending=sending,
            at=now(),
        )


def _pages_people(incident: Incident) -> bool:
    """A drill with a drill audience pages nobody on call: only that audience hears of it."""
    return not incident.flags.get("drill_audience")


def _start_paging(session: Session, incident: Incident, at: datetime) -> None:
    clocks.start(session, incident, paging.policy_step_clocks(session, incident, at), at)


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
    """1. Record the move along the lifecycle; the clocks follow it.
    2. Resolved: open the review the incident owes, drafted from its record (a drill always
       gets a short one). Reopened: the review's clock waits for the next resolution."""
    previous = incident_service.get(session, incident_id).status
    incident = incident_service.change_status(
        session, incident_id=incident_id, status=status, message=message, actor=actor, at=at
    )
    over = ("resolved", "closed")
    if incident.status in over and previous not in over:
        assert incident.resolved_at is not None
        review_flows.on_resolved(session, incident=incident, at=incident.resolved_at)
    elif previous in over and incident.status not in over:
        review_service.pause_for_reopen(session, incident=incident)
    return incident


def change_severity(
    session: Session, *, incident_id: str, severity: str, reason: str, actor: str
) -> Incident:
    """1. Record the change: the clocks add what the new severity owes and keep what is
    still owed. 2. A raise to a severity that pages starts the escalation policy's steps,
    unless they already run (an unacknowledged incident is paged from now)."""
    incident = incident_service.change_severity(
        session, incident_id=incident_id, severity=severity, reason=reason, actor=actor
    )
    policy = incident_service.policy_of(session, incident).policy
    if incident.resolved_at is not None:
        review_service.replan(session, incident=incident, policy=policy)
    unpaged = incident.acknowledged_at is None and incident.resolved_at is None
    if (
        unpaged
        and policy.severity(incident.severity).pages
        and _pages_people(incident)
        and not _paging_planned(session, incident)
    ):
        _start_paging(session, incident, now())
    return incident


def _paging_planned(session: Session, incident: Incident) -> bool:
    return any(c.key.startswith("page:") for c in clocks.all_clocks(session, incident.id))


def assign_role(
    session: Session, *, incident_id: str, role: str, assignee: str | None, actor: str
) -> Incident:
    """1. Record the role. 2. Say so in the war room, if the incident has one."""
    incident = incident_service.assign_role(
        session, incident_id=incident_id, role=role, assignee=assignee, actor=actor
    )
    policy = incident_service.policy_of(session, incident).policy
    text = f"{policy.target_name(role)}: {assignee or 'unassigned'} (by {actor})"
    key = f"role:{role}:{incident.last_event_seq}"
    warroom.post(session, incident=incident, policy=policy, key=key, text=text)
    return incident


def add_note(session: Session, *, incident_id: str, text: str, actor: str) -> Incident:
    return incident_service.add_note(session, incident_id=incident_id, text=text, actor=actor)


def set_flags(
    session: Session,
    *,
    incident_id: str,
    flags: Mapping[str, Any],
    actor: str,
    sending: Sending,
    aware_at: datetime | None = None,
) -> Incident:
    """1. Record the flags; a flag such as `personal_data_breach` starts the regulatory
    clocks it triggers. 2. Tell the security or compliance lead each notice now owed.
    3. Open again each communication stage the new flags owe to someone it had left out."""
    before = dict(incident_service.get(session, incident_id).flags)
    incident, started = incident_service.set_flags(
        session, incident_id=incident_id, flags=flags, actor=actor, aware_at=aware_at
    )
    policy = incident_service.policy_of(session, incident).policy
    _announce(session, incident, policy, started, sending)
    stages.reopen(
        session,
        incident=incident,
        policy=policy,
        flags_before=before,
        sending=sending,
        at=now(),
    )
    return incident


def complete_clock(
    session: Session, *, incident_id: str, key: str, note: str, actor: str
) -> Incident:
    """`review` is the review's own clock: saying it is done marks the review reviewed
    (which meets the clock). Any other key is the incident's."""
    if key == REVIEW.key and review_service.for_incident(session, incident_id) is not None:
        review_service.mark_held(session, incident_id=incident_id, actor=actor, note=note)
        return incident_service.get(session, incident_id)
    return incident_service.complete_clock(
        session, incident_id=incident_id, key=key, note=note, actor=actor
    )


def escalate_now(session: Session, *, incident_id: str, actor: str) -> Incident:
    """Page the next step now; a drill told only to its drill audience pages nobody."""
    incident = incident_service.get(session, incident_id)
    if incident.flags.get("drill") and incident.flags.get("drill_audience"):
        raise Conflict(
            f"{incident_id} is a drill told only to {incident.flags['drill_audience']}: "
            "it pages nobody on call",
            field="id",
        )
    return incident_service.escalate_now(session, incident_id=incident_id, actor=actor)
