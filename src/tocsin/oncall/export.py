"""The on-call file as the database has it: what `apply` would need to change nothing.

Importers start from it, so an import adds to (and updates) what is there rather than
removing everything the source does not know about.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.oncall.config import (
    ContactMethodIn,
    EscalationPolicyIn,
    OnCallConfig,
    OverrideIn,
    PersonIn,
    RuleIn,
    ScheduleIn,
    ServiceIn,
    StepIn,
    TeamIn,
)
from tocsin.oncall.models import (
    ContactMethod,
    EscalationPolicy,
    NotificationRule,
    Person,
    Schedule,
    ScheduleOverride,
    Service,
    Team,
)
from tocsin.oncall.rotation import Layer


def seconds_text(seconds: int) -> str:
    """A delay as the file writes it: whole minutes as "4m", anything else in seconds."""
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def current_config(session: Session) -> OnCallConfig:
    policies = session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.id))
    schedules = session.scalars(select(Schedule).order_by(Schedule.id))
    return OnCallConfig(
        people=[_person(session, p) for p in session.scalars(select(Person).order_by(Person.id))],
        teams=[_team(t) for t in session.scalars(select(Team).order_by(Team.id))],
        schedules=[_schedule(session, s) for s in schedules],
        escalation_policies=[_policy(e) for e in policies],
        services=[_service(s) for s in session.scalars(select(Service).order_by(Service.id))],
    )


def _person(session: Session, person: Person) -> PersonIn:
    methods = session.scalars(
        select(ContactMethod).where(ContactMethod.person_id == person.id).order_by(ContactMethod.id)
    ).all()
    names = {m.id: m.name for m in methods}
    rules = session.scalars(
        select(NotificationRule)
        .where(NotificationRule.person_id == person.id)
        .order_by(NotificationRule.position)
    )
    return PersonIn(
        handle=person.handle,
        source=person.source,
        name=person.name,
        email=person.email,
        timezone=person.timezone,
        contact_methods=[
            ContactMethodIn.model_validate({"name": m.name, "kind": m.kind, "address": m.address})
            for m in methods
        ],
        notification_rules=[
            RuleIn(method=names[r.contact_method_id], after=seconds_text(r.delay_s)) for r in rules
        ],
    )


def _team(team: Team) -> TeamIn:
    return TeamIn(handle=team.handle, source=team.source, name=team.name, members=team.members)


def _schedule(session: Session, schedule: Schedule) -> ScheduleIn:
    owned = session.scalars(
        select(ScheduleOverride)
        .where(ScheduleOverride.schedule_id == schedule.id, ScheduleOverride.source.is_not(None))
        .order_by(ScheduleOverride.id)
    )
    return ScheduleIn(
        handle=schedule.handle,
        source=schedule.source,
        name=schedule.name,
        timezone=schedule.timezone,
        layers=[Layer.model_validate(layer) for layer in schedule.layers],
        overrides=[_override(o) for o in owned],
    )


def _override(override: ScheduleOverride) -> OverrideIn:
    # Overrides written by hand in the file carry a generated "file:..." key, not a source.
    source = None if (override.source or "").startswith("file:") else override.source
    return OverrideIn(
        person=override.person,
        start=override.starts_at,
        end=override.ends_at,
        reason=override.reason,
        source=source,
    )


def _policy(policy: EscalationPolicy) -> EscalationPolicyIn:
    return EscalationPolicyIn(
        handle=policy.handle,
        source=policy.source,
        name=policy.name,
        default=policy.is_default,
        repeat=policy.repeat,
        repeat_after=seconds_text(policy.repeat_after_s),
        steps=[
            StepIn(after=seconds_text(step["after_s"]), targets=step["targets"])
            for step in policy.steps
        ],
        targets=policy.targets,
    )


def _service(service: Service) -> ServiceIn:
    return ServiceIn(
        handle=service.handle,
        source=service.source,
        name=service.name,
        escalation_policy=service.escalation_policy,
    )
