"""Paging: who an escalation step reaches, and the messages that reach them.

A step's targets are either the runbook's names (on_call_engineer, engineering_manager...),
which the escalation policy maps to people, or direct references (person:alice,
schedule:primary, team:sre, role:commander). Every message goes through the outbox with an
idempotency key per (incident, step, person, rule), in the same transaction that fires the
step, so a crash or a second engine can neither lose nor double a page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.db import remember
from tocsin.incidents import timeline
from tocsin.incidents.models import Clock, Incident
from tocsin.notify import acklinks, outbox
from tocsin.notify.models import Notification
from tocsin.oncall.models import (
    ContactMethod,
    EscalationPolicy,
    NotificationRule,
    Person,
    Schedule,
    Service,
    Team,
)
from tocsin.oncall.rotation import on_call_at
from tocsin.oncall.service import spec_of
from tocsin.policy import registry
from tocsin.policy.clock_kinds import ESCALATION
from tocsin.policy.deadlines import PlannedClock
from tocsin.policy.schema import Policy

ENGINE_ACTOR = "tocsin"

# The lines a page shows about the incident's alerts ("  - Disk full (critical, x3)"): the
# alerts are another domain's, so whoever wires paging up passes this in.
AlertLines = Callable[[Session, str], list[str]]


def escalation_policy_for(session: Session, incident: Incident) -> EscalationPolicy | None:
    """The first affected service's policy, else the default one."""
    services = tuple(incident.services)
    return remember(session, ("policy", services), lambda: _policy_for(session, services))


def _policy_for(session: Session, services: tuple[str, ...]) -> EscalationPolicy | None:
    for handle in services:
        service = session.scalar(select(Service).where(Service.handle == handle))
        if service and service.escalation_policy:
            return session.scalar(
                select(EscalationPolicy).where(EscalationPolicy.handle == service.escalation_policy)
            )
    return session.scalar(select(EscalationPolicy).where(EscalationPolicy.is_default.is_(True)))


def policy_step_clocks(session: Session, incident: Incident, start: datetime) -> list[PlannedClock]:
    """The escalation policy's own steps, repeated, as clocks that stop on acknowledgement."""
    policy = escalation_policy_for(session, incident)
    if policy is None or not policy.steps:
        return []
    cycle = timedelta(seconds=policy.steps[-1]["after_s"] + policy.repeat_after_s)
    planned = []
    for loop in range(policy.repeat + 1):
        for number, step in enumerate(policy.steps, start=1):
            targets = tuple(step["targets"])
            planned.append(
                PlannedClock(
                    kind=ESCALATION.key,
                    key=f"page:{loop + 1}:{number}",
                    due_at=start + loop * cycle + timedelta(seconds=step["after_s"]),
                    action="escalate",
                    label=f"Page {', '.join(targets)} (step {number}, round {loop + 1}) "
                    "until acknowledged",
                    targets=targets,
                    stop_on="acknowledged",
                )
            )
    return planned


@dataclass
class Reach:
    people: list[Person] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, person: Person) -> None:
        if all(p.id != person.id for p in self.people):
            self.people.append(person)


def _refs_for(target: str, policy: EscalationPolicy | None) -> list[str]:
    if policy is not None and target in policy.targets:
        return list(policy.targets[target])
    return [target] if ":" in target else [f"role:{target}"]


def _person(session: Session, handle: str | None) -> Person | None:
    if not handle:
        return None
    query = select(Person).where(Person.handle == handle)
    return remember(session, ("person", handle), lambda: session.scalar(query))


def _handles_for(session: Session, ref: str, incident: Incident, at: datetime) -> list[str]:
    kind, _, name = ref.partition(":")
    if kind == "person":
        return [name]
    if kind == "role":
        return [incident.roles[name]] if name in incident.roles else []
    if kind == "team":
        return remember(session, ("team", name), lambda: _team_members(session, name))
    if kind == "schedule":
        return remember(session, ("schedule", name, at), lambda: _holder(session, name, at))
    return []


def _team_members(session: Session, name: str) -> list[str]:
    team = session.scalar(select(Team).where(Team.handle == name))
    return list(team.members) if team else []


def _holder(session: Session, name: str, at: datetime) -> list[str]:
    schedule = session.scalar(select(Schedule).where(Schedule.handle == name))
    holder = on_call_at(spec_of(session, schedule), at) if schedule else None
    return [holder] if holder else []


def reach(session: Session, incident: Incident, targets: list[str], at: datetime) -> Reach:
    """Resolve targets to people; anything that reaches nobody is named in `problems`."""
    policy = escalation_policy_for(session, incident)
    found = Reach()
    for target in targets or ["on_call_engineer"]:
        handles = [
            h for ref in _refs_for(target, policy) for h in _handles_for(session, ref, incident, at)
        ]
        people = [p for p in (_person(session, h) for h in handles) if p is not None]
        if not people:
            found.problems.append(f"{target} reaches nobody (map it in the on-call file)")
        for person in people:
            found.add(person)
    return found


@dataclass
class Paged:
    """What firing one step did: who was paged, who had been paged already at this instant
    by another ladder's step, and what reached nobody."""

    people: list[str] = field(default_factory=list)
    already: dict[str, str] = field(default_factory=dict)  # handle -> the step that paged them
    problems: list[str] = field(default_factory=list)
    messages: int = 0

    @property
    def reached(self) -> bool:
        return bool(self.messages or self.already)


def page(
    session: Session,
    *,
    incident: Incident,
    clock: Clock,
    at: datetime,
    base_url: str,
    alert_lines: AlertLines,
) -> Paged:
    """Queue one message per notification rule for everyone the step reaches, and record it.

    Two ladders can name the same person at the same instant (the runbook's matrix and the
    service's escalation policy both page the on-call at t=0): they are paged once, with one
    acknowledge link, and the second step records who had it already."""
    found = reach(session, incident, list(clock.targets), at)
    paged = Paged(problems=list(found.problems))
    for person in found.people:
        earlier = _already_paged(session, incident, clock, person)
        if earlier is not None:
            paged.already[person.handle] = earlier
            continue
        rules = _rules(session, person)
        if not rules:
            paged.problems.append(f"{person.handle} has no notification rules")
            continue
        text = _text_for(session, incident, person, base_url, alert_lines)
        paged.messages += _queue_person(session, incident, clock, person, rules, at, text)
        paged.people.append(person.handle)
    _record(session, incident, clock, at, paged)
    return paged


def _record(session: Session, incident: Incident, clock: Clock, at: datetime, paged: Paged) -> None:
    data: dict[str, object] = {
        "key": clock.key,
        "people": paged.people,
        "messages": paged.messages,
        "problems": paged.problems,
    }
    if paged.already:
        data["already_paged"] = paged.already
    timeline.append(
        session,
        incident=incident,
        kind="paged" if paged.reached else "page_failed",
        actor=ENGINE_ACTOR,
        at=at,
        data=data,
    )


def _already_paged(
    session: Session, incident: Incident, clock: Clock, person: Person
) -> str | None:
    """Another escalation step of this incident that fired at this same instant and paged
    this person (its key), if any."""
    others = session.scalars(
        select(Clock.key).where(
            Clock.incident_id == incident.id,
            Clock.kind == clock.kind,
            Clock.state == "fired",
            Clock.due_at == clock.due_at,
            Clock.id != clock.id,
        )
    )
    for key in others:
        prefix = f"{incident.id}/{key}/{person.handle}/"
        hit = session.scalar(
            select(Notification.id)
            .where(
                Notification.incident_id == incident.id,
                Notification.idempotency_key.startswith(prefix, autoescape=True),
            )
            .limit(1)
        )
        if hit is not None:
            return key
    return None


def _rules(session: Session, person: Person) -> list[tuple[NotificationRule, ContactMethod]]:
    return remember(session, ("rules", person.id), lambda: _read_rules(session, person))


def _read_rules(session: Session, person: Person) -> list[tuple[NotificationRule, ContactMethod]]:
    rows = session.execute(
        select(NotificationRule, ContactMethod)
        .join(ContactMethod, ContactMethod.id == NotificationRule.contact_method_id)
        .where(NotificationRule.person_id == person.id)
        .order_by(NotificationRule.position)
    )
    return [(rule, method) for rule, method in rows]


@dataclass(frozen=True)
class PageText:
    subject: str
    body: str
    ack_url: str


def _text_for(
    session: Session, incident: Incident, person: Person, base_url: str, alert_lines: AlertLines
) -> PageText:
    """The page for one person, with their own signed acknowledge link."""
    token = acklinks.make_token(session, incident_id=incident.id, person=person.handle)
    link = f"{base_url.rstrip('/')}/ack/{token}"
    subject, body = page_text(session, incident, link, alert_lines(session, incident.id))
    return PageText(subject, body, link)


def _queue_person(
    session: Session,
    incident: Incident,
    clock: Clock,
    person: Person,
    rules: list[tuple[NotificationRule, ContactMethod]],
    at: datetime,
    text: PageText,
) -> int:
    """One outbox row per rule, keyed (incident, step, person, rule): queued once, ever."""
    queued = 0
    for rule, method in rules:
        created = outbox.enqueue(
            session,
            idempotency_key=f"{incident.id}/{clock.key}/{person.handle}/{rule.position}",
            purpose="page",
            channel=method.kind,
            address=method.address,
            subject=text.subject,
            body=text.body,
            data={
                "incident_id": incident.id,
                "severity": incident.severity,
                "title": incident.title,
                "ack_url": text.ack_url,
                "step": clock.key,
                "person": person.handle,
            },
            incident_id=incident.id,
            person_id=person.id,
            contact_method_id=method.id,
            rule_position=rule.position,
            send_after=at + timedelta(seconds=rule.delay_s),
        )
        queued += int(created)
    return queued


def page_text(
    session: Session, incident: Incident, ack_url: str, alerts: list[str]
) -> tuple[str, str]:
    """What the person woken at 3 a.m. reads: what, how bad, the alerts, the runbook, the link."""
    subject = f"[{incident.severity}] {incident.id}: {incident.title}"
    if incident.flags.get("drill"):
        subject = f"[DRILL] {subject}"
    lines = [subject, "", incident.summary or "", f"Status: {incident.status}"]
    if incident.flags.get("drill"):
        lines[1:1] = ["DRILL - this is an exercise.", ""]
    if incident.services:
        lines.append(f"Services: {', '.join(incident.services)}")
    if alerts:
        lines.append("Alerts:")
        lines += alerts
    policy = registry.by_hash(session, incident.policy_hash).policy
    lines += _runbook_lines(policy, incident)
    bridge = policy.bridge(incident.severity)
    if bridge:
        lines.append(f"Bridge: {bridge}")
    lines += ["", f"Acknowledge (stops escalation): {ack_url}"]
    return subject, "\n".join(lines)


def _runbook_lines(policy: Policy, incident: Incident) -> list[str]:
    """The runbooks the policy links for this kind of incident."""
    kinds = [t for t in policy.incident_types if t.id == incident.type]
    links = [link for kind in kinds for link in kind.runbooks]
    if not links:
        return []
    return ["Runbooks:"] + [f"  - {link.title}: {link.url or '(no link)'}" for link in links]
