"""The on-call file: people, how to reach them, teams, schedules, escalation policies and
services, in one YAML document that `tocsin oncall apply` makes true."""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

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


def delay_seconds(value: str) -> int:
    parsed = parse_duration(value)
    return 0 if parsed is None else int(parsed.amount.total_seconds())


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ContactMethodIn(_Model):
    name: Handle
    kind: Literal["email", "webhook", "apprise", "slack"]  # slack: a user id, for DMs
    address: str = Field(min_length=3, max_length=2000)


class RuleIn(_Model):
    method: Handle
    after: Delay = "0m"


class PersonIn(_Model):
    handle: Handle
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
    name: str
    members: list[Handle] = Field(min_length=1)


class ScheduleIn(_Model):
    handle: Handle
    name: str
    timezone: str = "UTC"
    layers: list[Layer] = Field(min_length=1)


class StepIn(_Model):
    after: Delay = "0m"
    targets: list[Target] = Field(min_length=1)


class EscalationPolicyIn(_Model):
    handle: Handle
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
        for layer in schedule.layers:
            unknown = [p for p in layer.rotation.participants if p not in people]
            problems += [f"schedule {schedule.handle}: unknown person {p!r}" for p in unknown]
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


def _unknown_refs(refs: list[str], known: dict[str, set[str]]) -> list[str]:
    found = []
    for ref in refs:
        kind, _, name = ref.partition(":")
        if kind in known and name not in known[kind]:
            found.append(f"unknown {kind} {name!r}")
    return found


def layers_json(schedule: ScheduleIn) -> list[dict[str, Any]]:
    return [layer.model_dump(mode="json") for layer in schedule.layers]
