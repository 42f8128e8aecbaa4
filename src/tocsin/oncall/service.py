"""Applying the on-call file, and asking who is on call.

`apply` is declarative and idempotent: it makes the database match the file, creating,
changing and removing people, teams, schedules, escalation policies and services, and
returns one line per change (none when the file is already in force). Overrides listed
under a schedule in the file are kept in step with it; overrides made through the API and CLI
are not the file's, and apply leaves them alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput, NotFound
from tocsin.oncall.config import (
    EscalationPolicyIn,
    OnCallConfig,
    OverrideIn,
    PersonIn,
    ScheduleIn,
    ServiceIn,
    TeamIn,
    delay_seconds,
    layers_json,
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
from tocsin.oncall.rotation import Layer, Override, ScheduleSpec, Shift, final_shifts, on_call_at

Row = TypeVar("Row", Person, Team, Schedule, EscalationPolicy, Service)


def apply(session: Session, config: OnCallConfig) -> list[str]:
    """Make the database match `config`; one line per change."""
    changes = _apply_people(session, config.people)
    changes += _sync(session, Team, config.teams, "team", _team_fields)
    changes += _sync(session, Schedule, config.schedules, "schedule", _schedule_fields)
    changes += _sync(
        session, EscalationPolicy, config.escalation_policies, "escalation policy", _policy_fields
    )
    changes += _sync(session, Service, config.services, "service", _service_fields)
    session.flush()
    changes += _apply_overrides(session, config.schedules)
    session.flush()
    return changes


FILE_ACTOR = "oncall file"


def _team_fields(team: TeamIn) -> dict[str, Any]:
    return {"name": team.name, "members": list(team.members), "source": team.source}


def _schedule_fields(schedule: ScheduleIn) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "timezone": schedule.timezone,
        "layers": layers_json(schedule),
        "source": schedule.source,
    }


def _policy_fields(policy: EscalationPolicyIn) -> dict[str, Any]:
    steps = [{"after_s": delay_seconds(s.after), "targets": list(s.targets)} for s in policy.steps]
    return {
        "name": policy.name,
        "repeat": policy.repeat,
        "repeat_after_s": delay_seconds(policy.repeat_after),
        "steps": steps,
        "targets": {k: list(v) for k, v in policy.targets.items()},
        "is_default": policy.default,
        "source": policy.source,
    }


def _service_fields(service: ServiceIn) -> dict[str, Any]:
    return {
        "name": service.name,
        "escalation_policy": service.escalation_policy,
        "source": service.source,
    }


def _sync(
    session: Session,
    model: type[Row],
    wanted: Sequence[Any],
    label: str,
    fields: Callable[[Any], dict[str, Any]],
) -> list[str]:
    """Create, update or remove rows of `model` (keyed by handle) to match `wanted`."""
    existing = {row.handle: row for row in session.scalars(select(model))}
    changes = []
    for item in wanted:
        values = fields(item)
        row = existing.pop(item.handle, None)
        if row is None:
            session.add(model(handle=item.handle, **values))
            changes.append(f"created {label} {item.handle}")
        elif any(getattr(row, k) != v for k, v in values.items()):
            changed = sorted(k for k, v in values.items() if getattr(row, k) != v)
            for key, value in values.items():
                setattr(row, key, value)
            changes.append(f"updated {label} {item.handle} ({', '.join(changed)})")
    for handle, row in existing.items():
        session.delete(row)
        changes.append(f"removed {label} {handle}")
    return changes


# -- people, their contact methods and notification rules --------------------------------------


def _person_shape(person: PersonIn) -> dict[str, Any]:
    return {
        "name": person.name,
        "email": person.email,
        "timezone": person.timezone,
        "source": person.source,
        "methods": [(m.name, m.kind, m.address) for m in person.contact_methods],
        "rules": [(r.method, delay_seconds(r.after)) for r in person.rules()],
    }


def _stored_shape(session: Session, person: Person) -> dict[str, Any]:
    methods = list(
        session.scalars(select(ContactMethod).where(ContactMethod.person_id == person.id))
    )
    by_id = {m.id: m.name for m in methods}
    rules = session.scalars(
        select(NotificationRule)
        .where(NotificationRule.person_id == person.id)
        .order_by(NotificationRule.position)
    )
    return {
        "name": person.name,
        "email": person.email,
        "timezone": person.timezone,
        "source": person.source,
        "methods": sorted((m.name, m.kind, m.address) for m in methods),
        "rules": [(by_id[r.contact_method_id], r.delay_s) for r in rules],
    }


def _apply_people(session: Session, people: Sequence[PersonIn]) -> list[str]:
    existing = {p.handle: p for p in session.scalars(select(Person))}
    changes = []
    for wanted in people:
        person = existing.pop(wanted.handle, None)
        shape = _person_shape(wanted)
        if person is None:
            person = Person(handle=wanted.handle, name=wanted.name)
            session.add(person)
            session.flush()
            changes.append(f"created person {wanted.handle}")
        else:
            stored = _stored_shape(session, person)
            if stored == {**shape, "methods": sorted(shape["methods"])}:
                continue
            changes.append(f"updated person {wanted.handle}")
        _write_person(session, person, wanted)
    for handle, person in existing.items():
        session.delete(person)
        changes.append(f"removed person {handle}")
    return changes


def _write_person(session: Session, person: Person, wanted: PersonIn) -> None:
    person.name, person.email, person.timezone = wanted.name, wanted.email, wanted.timezone
    person.source = wanted.source
    session.execute(delete(NotificationRule).where(NotificationRule.person_id == person.id))
    methods = {
        m.name: m
        for m in session.scalars(select(ContactMethod).where(ContactMethod.person_id == person.id))
    }
    for name in set(methods) - {m.name for m in wanted.contact_methods}:
        session.delete(methods.pop(name))
    for method in wanted.contact_methods:
        row = methods.get(method.name) or ContactMethod(person_id=person.id, name=method.name)
        row.kind, row.address = method.kind, method.address
        session.add(row)
        methods[method.name] = row
    session.flush()
    for position, rule in enumerate(wanted.rules()):
        session.add(
            NotificationRule(
                person_id=person.id,
                contact_method_id=methods[rule.method].id,
                delay_s=delay_seconds(rule.after),
                position=position,
            )
        )


# -- the file's overrides ---------------------------------------------------------------------


def _apply_overrides(session: Session, schedules: Sequence[ScheduleIn]) -> list[str]:
    """Per schedule in the file: create, update or remove the overrides the file owns (those
    with a source), keyed by `OverrideIn.key()`."""
    changes = []
    for wanted in schedules:
        schedule = schedule_by_handle(session, wanted.handle)
        owned = session.scalars(
            select(ScheduleOverride).where(
                ScheduleOverride.schedule_id == schedule.id, ScheduleOverride.source.is_not(None)
            )
        )
        existing = {row.source: row for row in owned}
        for override in wanted.overrides:
            change = _sync_override(session, schedule, existing.pop(override.key(), None), override)
            changes += [change] if change else []
        for row in existing.values():
            session.delete(row)
            changes.append(f"removed override of {wanted.handle} ({row.person}, {row.starts_at})")
    return changes


def _override_values(override: OverrideIn) -> dict[str, Any]:
    return {
        "person": override.person,
        "starts_at": override.start.astimezone(UTC),
        "ends_at": override.end.astimezone(UTC),
        "reason": override.reason,
    }


def _sync_override(
    session: Session, schedule: Schedule, row: ScheduleOverride | None, override: OverrideIn
) -> str | None:
    values = _override_values(override)
    label = f"override of {schedule.handle} ({override.person}, {values['starts_at']})"
    if row is None:
        session.add(
            ScheduleOverride(
                schedule_id=schedule.id, created_by=FILE_ACTOR, source=override.key(), **values
            )
        )
        return f"created {label}"
    if all(getattr(row, k) == v for k, v in values.items()):
        return None
    for key, value in values.items():
        setattr(row, key, value)
    return f"updated {label}"


# -- who is on call ----------------------------------------------------------------------------


def schedule_by_handle(session: Session, handle: str) -> Schedule:
    schedule = session.scalar(select(Schedule).where(Schedule.handle == handle))
    if schedule is None:
        known = list(session.scalars(select(Schedule.handle).order_by(Schedule.handle)))
        raise NotFound(f"no schedule {handle!r}", field="schedule", allowed=known)
    return schedule


def spec_of(session: Session, schedule: Schedule) -> ScheduleSpec:
    overrides = session.scalars(
        select(ScheduleOverride).where(ScheduleOverride.schedule_id == schedule.id)
    )
    return ScheduleSpec(
        name=schedule.handle,
        timezone=schedule.timezone,
        layers=[Layer.model_validate(layer) for layer in schedule.layers],
        overrides=[Override(person=o.person, start=o.starts_at, end=o.ends_at) for o in overrides],
    )


def who_is_on_call(session: Session, handle: str, at: datetime) -> str | None:
    schedule = schedule_by_handle(session, handle)
    return on_call_at(spec_of(session, schedule), at)


def shifts(session: Session, handle: str, start: datetime, end: datetime) -> list[Shift]:
    if end <= start:
        raise InvalidInput("the window must end after it starts", field="to")
    if (end - start).days > 366:
        raise InvalidInput("ask for at most a year of shifts at a time", field="to")
    schedule = schedule_by_handle(session, handle)
    return final_shifts(spec_of(session, schedule), start, end)


def add_override(
    session: Session,
    *,
    handle: str,
    person: str,
    start: datetime,
    end: datetime,
    actor: str,
    reason: str = "",
) -> ScheduleOverride:
    schedule = schedule_by_handle(session, handle)
    if end <= start:
        raise InvalidInput("an override must end after it starts", field="end")
    if session.scalar(select(Person).where(Person.handle == person)) is None:
        raise NotFound(f"no person {person!r}", field="person")
    override = ScheduleOverride(
        schedule_id=schedule.id,
        person=person,
        starts_at=start,
        ends_at=end,
        reason=reason,
        created_by=actor,
    )
    session.add(override)
    session.flush()
    return override


def remove_override(session: Session, *, override_id: int) -> None:
    override = session.get(ScheduleOverride, override_id)
    if override is None:
        raise NotFound(f"no override {override_id}", field="id")
    session.delete(override)
