"""The on-call file: people, how to reach them, teams, schedules, escalation policies and
services, in one YAML document that `tocsin oncall apply` makes true."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from tocsin.oncall.rotation import Layer
from tocsin.policy.durations import DurationKind, parse_duration

HANDLE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
TARGET_KINDS = ("person", "schedule", "team", "role")


def _handle(value: str) -> str:
    if not HANDLE.match(value):
        raise ValueError(f"{value!r} is not a handle: use lowercase letters, digits, . _ -")
    return value


def _seconds(value: str) -> str:
    parsed = parse_duration(value)
    if parsed is not None and parsed.kind not in (DurationKind.CALENDAR, DurationKind.IMMEDIATE):
        raise ValueError("use calendar time such as 0m, 2m or 1h")
    return value


def _target(value: str) -> str:
    kind, _, name = value.partition(":")
    if kind not in TARGET_KINDS or not name:
        raise ValueError(f"{value!r}: a target is person:H, schedule:H, team:H or role:ROLE")
    return value


Handle = Annotated[str, AfterValidator(_handle)]
Delay = Annotated[str, AfterValidator(_seconds)]
Target = Annotated[str, AfterValidator(_target)]
Source = Annotated[
    str | None,
    Field(
        default=None,
        max_length=300,
        description="Where an imported record came from (e.g. opsgenie:user:ID); "
        "`tocsin import` finds its records again by it.",
    ),
]


def delay_seconds(value: str) -> int:
    parsed = parse_duration(value)
    return 0 if parsed is None else int(parsed.amount.total_seconds())


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ContactMethodIn(_Model):
    name: Handle
    # slack: a user id, for DMs; teams: a Teams Workflows URL (an Adaptive Card to a channel)
    kind: Literal["email", "webhook", "apprise", "slack", "teams"]
    address: str = Field(min_length=3, max_length=2000)


class RuleIn(_Model):
    method: Handle
    after: Delay = "0m"


class PersonIn(_Model):
    handle: Handle
    source: Source
    name: str = Field(min_length=1, max_length=200)
    email: str | None = None
    timezone: str = "UTC"
    contact_methods: list[ContactMethodIn] = Field(min_length=1)
    notification_rules: list[RuleIn] = Field(
        default_factory=list,
        description="When to use which method after a page starts; default: every method at once.",
    )

    @model_validator(mode="after")
    def _rules_name_methods(self) -> PersonIn:
        names = [m.name for m in self.contact_methods]
        for rule in self.notification_rules:
            if rule.method not in names:
                raise ValueError(f"rule method {rule.method!r} is not one of {', '.join(names)}")
        return self

    def rules(self) -> list[RuleIn]:
        return self.notification_rules or [RuleIn(method=m.name) for m in self.contact_methods]


class TeamIn(_Model):
    handle: Handle
    source: Source
    name: str
    members: list[Handle] = Field(min_length=1)


class OverrideIn(_Model):
    """Someone covers the schedule; apply keeps the file's overrides in step with it and
    leaves overrides made through the API or CLI alone."""

    person: Handle
    start: AwareDatetime
    end: AwareDatetime
    reason: str = ""
    source: Source

    @model_validator(mode="after")
    def _ends_after_start(self) -> OverrideIn:
        if self.end <= self.start:
            raise ValueError("an override must end after it starts")
        return self

    def key(self) -> str:
        """Its identity across applies: the source's, or its person and times."""
        start, end = (t.astimezone(UTC).isoformat() for t in (self.start, self.end))
        return self.source or f"file:{self.person}:{start}:{end}"


class ScheduleIn(_Model):
    handle: Handle
    source: Source
    name: str
    timezone: str = "UTC"
    layers: list[Layer] = Field(min_length=1)
    overrides: list[OverrideIn] = Field(default_factory=list)


class StepIn(_Model):
    after: Delay = "0m"
    targets: list[Target] = Field(min_length=1)


class EscalationPolicyIn(_Model):
    handle: Handle
    source: Source
    name: str
    default: bool = False
    repeat: int = Field(default=0, ge=0, le=10, description="Run the steps again this many times.")
    repeat_after: Delay = Field(
        default="15m", description="Gap after the last step before a repeat."
    )
    steps: list[StepIn] = Field(default_factory=list)
    targets: dict[str, list[Target]] = Field(
        default_factory=dict,
        description="Who answers for each target the runbook's escalation matrix names "
        "(e.g. engineering_manager: [person:bob]).",
    )


class ServiceIn(_Model):
    handle: Handle
    source: Source
    name: str
    escalation_policy: Handle | None = None


class OnCallConfig(_Model):
    people: list[PersonIn] = Field(default_factory=list)
    teams: list[TeamIn] = Field(default_factory=list)
    schedules: list[ScheduleIn] = Field(default_factory=list)
    escalation_policies: list[EscalationPolicyIn] = Field(default_factory=list)
    services: list[ServiceIn] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> OnCallConfig:
        problems = list(_problems(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _duplicates(kind: str, handles: list[str]) -> list[str]:
    counts = Counter(handles)
    return [f"{kind} {h!r} is defined twice" for h in sorted(counts) if counts[h] > 1]


def _problems(config: OnCallConfig) -> list[str]:
    people = {p.handle for p in config.people}
    known = {
        "person": people,
        "team": {t.handle for t in config.teams},
        "schedule": {s.handle for s in config.schedules},
    }
    problems = _duplicates("person", [p.handle for p in config.people])
    problems += _duplicates("schedule", [s.handle for s in config.schedules])
    problems += _duplicates("escalation policy", [e.handle for e in config.escalation_policies])
    for team in config.teams:
        problems += [
            f"team {team.handle}: unknown person {m!r}" for m in team.members if m not in people
        ]
    for schedule in config.schedules:
        covering = [o.person for o in schedule.overrides]
        participants = [p for layer in schedule.layers for p in layer.rotation.participants]
        unknown = [p for p in dict.fromkeys(participants + covering) if p not in people]
        problems += [f"schedule {schedule.handle}: unknown person {p!r}" for p in unknown]
    problems += _duplicates("source", [s for s in _sources(config) if s])
    for policy in config.escalation_policies:
        refs = [t for step in policy.steps for t in step.targets]
        refs += [t for targets in policy.targets.values() for t in targets]
        problems += [f"escalation policy {policy.handle}: {p}" for p in _unknown_refs(refs, known)]
    policies = {e.handle for e in config.escalation_policies}
    for service in config.services:
        if service.escalation_policy and service.escalation_policy not in policies:
            problems.append(
                f"service {service.handle}: unknown escalation policy {service.escalation_policy!r}"
            )
    if sum(e.default for e in config.escalation_policies) > 1:
        problems.append("only one escalation policy can be the default")
    return problems


def _sources(config: OnCallConfig) -> Iterable[str | None]:
    for section in (
        config.people,
        config.teams,
        config.schedules,
        config.escalation_policies,
        config.services,
    ):
        yield from (item.source for item in section)
    yield from (o.source for s in config.schedules for o in s.overrides)


def _unknown_refs(refs: list[str], known: dict[str, set[str]]) -> list[str]:
    found = []
    for ref in refs:
        kind, _, name = ref.partition(":")
        if kind in known and name not in known[kind]:
            found.append(f"unknown {kind} {name!r}")
    return found


def layers_json(schedule: ScheduleIn) -> list[dict[str, Any]]:
    return [layer.model_dump(mode="json") for layer in schedule.layers]
