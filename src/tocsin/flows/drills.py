"""Drill use cases: holding a drill from the policy's programme, and telling people a drill
(or the runbook's review) is due.

A drill is a real incident, flagged `drill`, run under the real policy: its clocks, stages
and escalation steps are the ones the policy sets for its severity, and every page and
message says DRILL. If the policy names a drill audience (`drills[].audience`, else
`drill_audience`), the incident also carries `drill_audience` and its pages and messages go
only to that audience (tocsin.comms.notices). A drill never reaches the status page
(tocsin.flows.statuspage).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256

from sqlalchemy.orm import Session

from tocsin.comms import audiences, notices
from tocsin.comms.messages import Outgoing, Sending
from tocsin.comms.recipients import Reach
from tocsin.comms.templates import context, render
from tocsin.flows import incidents as incident_flows
from tocsin.incidents import service as incident_service
from tocsin.incidents import timeline
from tocsin.incidents.chain import format_instant
from tocsin.incidents.models import Clock, Incident
from tocsin.notify import outbox
from tocsin.policy.clock_kinds import RUNBOOK_REVIEW
from tocsin.policy.loader import LoadedPolicy
from tocsin.policy.schema import Policy
from tocsin.reviews import drills
from tocsin.reviews.drill_models import Drill
from tocsin.timesource import now

ACTOR = "tocsin"


@dataclass(frozen=True)
class Started:
    drill: Drill
    incident: Incident


def start(
    session: Session,
    *,
    loaded: LoadedPolicy,
    scenario: str,
    actor: str,
    sending: Sending,
    title: str | None = None,
    severity: str | None = None,
    services: Sequence[str] = (),
    drill: str | None = None,
) -> Started:
    """`scenario` is what is rehearsed: a programme entry's id, or a name of its own
    ("credential-leak"; an incident type of the policy by that id becomes the incident's
    type), counted for the entry `drill` (default: the entry due first).

    1. Declare the drill incident at the programme entry's severity, flagged `drill`.
    2. Record the drill and put `drill_started` on the incident's timeline.
    3. With a drill audience, tell that audience (nobody on call is paged)."""
    policy = loaded.policy
    entry = drills.choose_entry(session, policy, scenario, drill)
    level = severity or drills.drill_severity(policy, entry)
    audience = policy.drill_audience_for(entry)
    flags: dict[str, object] = {"drill": True}
    if audience is not None:
        flags["drill_audience"] = audience
    own = scenario != entry.id
    what = title or (scenario if own else entry.scope or entry.id)
    declaration = incident_service.Declaration(
        title=f"Drill: {what}"[:300],
        severity=level,
        summary=f"{entry.kind.replace('_', ' ').capitalize()} from the drill programme "
        f"({entry.id}, {entry.cadence}). {entry.note or ''}".strip(),
        services=list(services),
        type=scenario if own and scenario in policy.type_ids() else None,
        flags=flags,
    )
    incident = incident_flows.declare(
        session, loaded=loaded, declaration=declaration, actor=actor, sending=sending, drill=True
    )
    row = drills.record_start(
        session,
        entry=entry,
        incident_id=incident.id,
        title=what[:300],
        severity=level,
        audience=audience,
        actor=actor,
        at=incident.declared_at,
    )
    timeline.append(
        session,
        incident=incident,
        kind="drill_started",
        actor=actor,
        at=incident.declared_at,
        data={"drill": row.id, "programme": entry.id, "audience": audience},
    )
    if audience is not None:
        _tell_audience(session, policy, incident, sending)
    return Started(row, incident)


def _tell_audience(session: Session, policy: Policy, incident: Incident, sending: Sending) -> None:
    at = now()
    values = context(incident, policy, base_url=sending.base_url)
    outgoing = Outgoing(
        key="drill:declared",
        kind="stage",
        rendered=render(policy, None, "notice", values),
        audience=[str(incident.flags["drill_audience"])],
    )
    notices.deliver(
        session,
        incident=incident,
        policy=policy,
        outgoing=outgoing,
        reach=Reach(),
        sending=sending,
        at=at,
    )


def end(
    session: Session,
    *,
    loaded: LoadedPolicy,
    drill_id: int,
    outcome: str,
    lessons: str,
    actor: str,
) -> Drill:
    """1. Record the outcome and lessons; meet the programme entry's clock and arm the next.
    2. Put `drill_ended` on the incident's timeline and resolve the drill incident."""
    row = drills.get(session, drill_id, lock=True)
    incident = incident_service.lock(session, row.incident_id)
    policy = incident_service.policy_of(session, incident).policy
    at = now()
    upcoming = drills.record_end(
        session, row=row, policy=policy, outcome=outcome, lessons=lessons, actor=actor, at=at
    )
    timeline.append(
        session,
        incident=incident,
        kind="drill_ended",
        actor=actor,
        at=at,
        data={
            "drill": row.id,
            "programme": row.programme_id,
            "outcome": outcome,
            "lessons": lessons,
            "next_due_at": format_instant(upcoming.due_at) if upcoming else None,
        },
    )
    if incident.resolved_at is None:
        incident_flows.change_status(
            session,
            incident_id=incident.id,
            status="resolved",
            message=f"Drill ended: {outcome}",
            actor=actor,
        )
    return row


def sync(session: Session, loaded: LoadedPolicy) -> list[Clock]:
    """The loaded policy's drill programme and runbook review, as clocks (idempotent)."""
    return drills.sync(session, loaded.policy)


class DrillReminders:
    """tocsin.reviews.drills.DrillNotices, by message: a drill's reminder goes to its owner
    (`drills[].owner`: a role, an audience, `person:` or `team:`) first, else its drill
    audience, else the commander's standing contacts; the runbook's to its owner when the
    owner names a role, audience or person Tocsin knows, else the same. Whatever reaches
    nobody goes to the policy's fallback audience, else the admins."""

    def __init__(self, sending: Sending, loaded: LoadedPolicy) -> None:
        self.sending = sending
        self.loaded = loaded

    def tell(self, session: Session, clock: Clock, kind: str) -> None:
        policy = self.loaded.policy
        at = now()
        # Who is reached is worked out as for an incident nobody holds a role in.
        nobody = Incident(id="drills", roles={}, flags={}, type=None)
        reach = self._reach(session, policy, clock, nobody, at)
        if not reach.recipients:
            reach = notices.fallback(
                session, policy=policy, incident=nobody, sending=self.sending, at=at
            )
        subject, body = _text(policy, clock, kind, self.sending.base_url)
        for recipient in reach.recipients:
            digest = sha256(f"{recipient.channel}|{recipient.address}".encode()).hexdigest()[:16]
            key = f"{clock.key}/{kind}/{format_instant(clock.due_at)}/{digest}"
            outbox.enqueue(
                session,
                idempotency_key=key[: outbox.queue.KEY_LENGTH],
                purpose="notify",
                channel=recipient.channel,
                address=recipient.address,
                subject=subject,
                body=body,
                data={**recipient.data, "drill": clock.subject_id, "kind": kind},
                person_id=recipient.person_id,
                contact_method_id=recipient.contact_method_id,
            )

    def _reach(
        self, session: Session, policy: Policy, clock: Clock, nobody: Incident, at: datetime
    ) -> Reach:
        targets: list[str] = []
        if clock.kind == RUNBOOK_REVIEW.key:
            owner = policy.document.owner
            if owner:
                targets.append(owner)
        else:
            entry = policy.drill(clock.subject_id)
            if entry and entry.owner:
                targets.append(entry.owner)
            audience = policy.drill_audience_for(entry) if entry else None
            if audience:
                targets.append(audience)
        targets.append("commander")
        for target in targets:
            found = self._target(session, policy, nobody, target, at)
            if found.recipients:
                return found
        return Reach()

    def _target(
        self, session: Session, policy: Policy, nobody: Incident, target: str, at: datetime
    ) -> Reach:
        kind, _, handle = target.partition(":")
        if handle and kind == "team":
            return self.sending.directory.team(session, handle)
        if handle and kind == "person":
            return self.sending.directory.person(session, handle)
        if target in policy.target_ids():
            return audiences.resolve(
                session,
                policy=policy,
                incident=nobody,
                targets=[target],
                directory=self.sending.directory,
                at=at,
            )
        return self.sending.directory.person(session, target)


def _text(policy: Policy, clock: Clock, kind: str, base_url: str) -> tuple[str, str]:
    due = format_instant(clock.due_at).replace("T", " ")[:16]
    link = f"{base_url.rstrip('/')}/console/drills"
    if clock.kind == RUNBOOK_REVIEW.key:
        how = "Record the review with `tocsin drill runbook-reviewed`."
    else:
        how = f"Hold it with `tocsin drill start --scenario {clock.subject_id}`."
    if kind == "breach":
        return (
            f"Overdue: {clock.label}",
            f"{clock.label} ({policy.title}) was due at {due} UTC and has not been held.\n\n"
            f"{how}\n\nDrills: {link}\n",
        )
    return (
        f"Due {due[:10]}: {clock.label}",
        f"{clock.label} ({policy.title}) is due at {due} UTC.\n\n{how}\n\nDrills: {link}\n",
    )
