"""The policy: an incident-response runbook as validated data.

A policy file is YAML; `tocsin.policy.loader` reads it into `Policy`. Every model forbids
unknown keys, so a typo such as `respond_withn` is an error rather than a silently missing
clock. Durations are written as text ("15m", "4bh", "3bd", "next_business_day", "n/a") and
held as `Duration`; `None` means "does not apply", and the clock is not started.

Targets. Escalation steps, communication stages, update audiences, regulatory notices and
templates name who is told by id: either a role id (`commander`, filled per incident) or an
audience id (a standing contact point such as `legal` or `customers`).

Severities are listed most severe first; nothing here assumes a numbering scheme.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date, time
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from tocsin.policy.durations import BusinessCalendar, Duration, parse_duration
from tocsin.policy.routing import Routing
from tocsin.policy.status_page import StatusPageSettings
from tocsin.policy.templates import problems as template_problems
from tocsin.policy.templates import variables_used

__all__ = [
    "ActionItemClass",
    "Audience",
    "CommunicationStage",
    "ContainmentFlag",
    "EscalationStep",
    "EvidencePolicy",
    "IncidentType",
    "Phase",
    "Policy",
    "PolicyProblems",
    "Regulatory",
    "RetentionClass",
    "Role",
    "Severity",
    "StageCondition",
    "Template",
    "UnknownActionItemClass",
    "UnknownSeverity",
    "dotted",
]

Loc = tuple[str | int, ...]


# Domain exceptions are named for what went wrong (IllegalTransition, UnknownSeverity).
class UnknownSeverity(KeyError):
    """A severity id the policy does not define; the message lists the allowed ids in order."""

    def __init__(self, severity_id: str, allowed: list[str]) -> None:
        super().__init__(severity_id)
        self.severity_id = severity_id
        self.allowed = allowed
        self.message = (
            f"unknown severity {severity_id!r}; allowed (most severe first): {', '.join(allowed)}"
        )

    def __str__(self) -> str:
        return self.message


class UnknownActionItemClass(KeyError):
    """An action item class the policy does not define; the message lists the allowed ids."""

    def __init__(self, class_id: str, allowed: list[str]) -> None:
        super().__init__(class_id)
        self.allowed = allowed
        self.message = (
            f"unknown action item class {class_id!r}; allowed: {', '.join(allowed) or 'none'}"
        )

    def __str__(self) -> str:
        return self.message


class PolicyProblems(ValueError):
    """Cross-field problems found after the fields themselves parsed, each at its own path.

    Raised inside pydantic validation; the loader unpacks `problems` so that every problem
    is reported at its own file line rather than at the top of the document.
    """

    def __init__(self, problems: list[tuple[Loc, str]]) -> None:
        super().__init__("; ".join(f"{dotted(loc)}: {message}" for loc, message in problems))
        self.problems = problems


def dotted(loc: Loc) -> str:
    """("severities", 1, "after") -> "severities[1].after", as errors show a path."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


# -- field types -----------------------------------------------------------------------------

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=80)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]*$", max_length=80)]
# Who runs a drill: a role or audience id of the policy, or `person:<handle>` /
# `team:<handle>` from the on-call file.
OWNER_KINDS = ("person", "team")
Owner = Annotated[
    str,
    StringConstraints(
        pattern=rf"^(({'|'.join(OWNER_KINDS)}):)?[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=90
    ),
    WithJsonSchema({"type": "string", "examples": ["security_lead", "team:sre", "person:alice"]}),
]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Cadence = Literal["weekly", "monthly", "quarterly", "biannually", "annually"]
EscalateWhen = Literal["unacknowledged", "unresolved"]


def _optional_duration(value: object) -> Duration | None:
    if value is None or isinstance(value, Duration):
        return value
    if isinstance(value, str | int | float):
        return parse_duration(value)
    raise ValueError(f"expected a duration such as '15m', got {type(value).__name__}")


def _required_duration(value: object) -> Duration:
    duration = _optional_duration(value)
    if duration is None:
        raise ValueError(f"{value!r} means 'does not apply', but this needs a duration")
    return duration


def _dump_duration(value: Duration | None) -> str | None:
    return None if value is None else str(value)


_DURATION_SCHEMA = WithJsonSchema({"type": ["string", "null"], "examples": ["15m", "3bd"]})
OptDuration = Annotated[
    Duration | None,
    PlainValidator(_optional_duration),
    PlainSerializer(_dump_duration),
    _DURATION_SCHEMA,
]
ReqDuration = Annotated[
    Duration,
    PlainValidator(_required_duration),
    PlainSerializer(_dump_duration),
    _DURATION_SCHEMA,
]


def _clock_time(value: object) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}(:00)?", value.strip()):
        hours, minutes = (int(part) for part in value.strip().split(":")[:2])
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    raise ValueError(f"{value!r} is not a time of day; write it quoted as 'HH:MM', e.g. '09:00'")


def _dump_time(value: time) -> str:
    return value.strftime("%H:%M")


ClockTime = Annotated[
    time,
    PlainValidator(_clock_time),
    PlainSerializer(_dump_time),
    WithJsonSchema({"type": "string", "pattern": "^[0-9]{1,2}:[0-9]{2}$", "examples": ["09:00"]}),
]


def _label(value: object) -> str:
    # `version: 1.0` is a float to YAML; a version is a label, so take it as text.
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a version label such as '1.0', got {type(value).__name__}")


def _optional_label(value: object) -> str | None:
    return None if value is None else _label(value)


_LABEL_SCHEMA = WithJsonSchema({"type": "string"})
Label = Annotated[str, PlainValidator(_label), _LABEL_SCHEMA]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# -- calendar ---------------------------------------------------------------------------------


class BusinessHours(_Model):
    start: ClockTime = time(9)
    end: ClockTime = time(17)
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]), min_length=1)

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: time, info: ValidationInfo) -> time:
        start = info.data.get("start")
        if start is not None and not start < end:
            raise ValueError(f"end {end:%H:%M} must be after start {start:%H:%M}")
        return end


class Holidays(_Model):
    """Public holidays that business-time clocks skip (the `holidays` package's codes)."""

    country: str | None = None
    subdiv: str | None = None
    extra: list[date] = []
    note: str | None = None

    @model_validator(mode="after")
    def _known_region(self) -> Holidays:
        BusinessCalendar(holiday_country=self.country, holiday_subdiv=self.subdiv)
        return self


# -- people -----------------------------------------------------------------------------------


MEMBER_KINDS = ("person", "team", "schedule", "role", "channel", "email", "slack")
Member = Annotated[
    str,
    StringConstraints(
        pattern=rf"^({'|'.join(MEMBER_KINDS)}):\S.*$",
        max_length=300,
    ),
    WithJsonSchema({"type": "string", "examples": ["team:legal", "channel:exec-sms"]}),
]


class Audience(_Model):
    """Anyone who can be notified or escalated to. An unknown contact stays None (not set).

    Who a message to the audience reaches: its `email`, the holder of its `role`, its `chat`
    channel (through the Slack bot), and each of `members`: `person:<handle>`, `team:<handle>`
    and `schedule:<handle>` (from the on-call file), `role:<role id>`, `channel:<name>` (a
    named notification channel: `tocsin notify channel add`), `email:<address>` or
    `slack:#channel`. A phone number alone reaches nobody: add the SMS service as a channel.
    """

    id: Id
    name: str
    person: str | None = None
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    phone: str | None = None
    chat: str | None = None
    url: str | None = None
    role: Id | None = None
    members: list[Member] = []
    note: str | None = None

    def reach(self) -> list[str]:
        """Every member reference, the shorthand fields included, without repeats."""
        implied = [
            f"email:{self.email}" if self.email else None,
            f"role:{self.role}" if self.role else None,
            f"slack:{self.chat}" if self.chat else None,
        ]
        return list(dict.fromkeys([m for m in implied if m] + list(self.members)))


class Role(_Model):
    id: Id
    name: str
    duties: list[str] = []
    primary: str | None = None
    backup: str | None = None
    members: list[str] = []
    note: str | None = None


class Flag(_Model):
    id: Id
    name: str
    description: str = ""


class SwitchWebhook(_Model):
    """Flip by webhook: Tocsin POSTs `{switch, state, incident, reason, actor, at}` as JSON,
    signed with HMAC-SHA256 over the exact body (`X-Tocsin-Signature: sha256=<hex>`). The
    secret is sealed in the database (`tocsin secrets switch ID`), never in the policy."""

    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]


class ContainmentFlag(_Model):
    """A switch responders flip to contain damage, such as rastup's `global-readonly`.

    - webhook: how Tocsin flips it; without one, flipping records it and shows the banner,
      and a person flips the real switch by hand.
    - watch: after release, how long the incident's services must stay free of new alerts
      (the `switch_watch` clock: met if none came, breached and told if one did).
    - limit: how long it may stay on before the commander is reminded (`switch_limit`).
    """

    id: Id
    description: str = ""
    when: str
    release: str | None = None
    webhook: SwitchWebhook | None = None
    watch: OptDuration = None
    limit: OptDuration = None


class RetentionClass(_Model):
    """How long one class of evidence is kept, counted from when it was added."""

    id: Id
    name: str
    keep: ReqDuration
    note: str | None = None


class EvidencePolicy(_Model):
    """The evidence locker: retention classes, and the class evidence gets when none is given
    (no default: evidence without a class is kept until a person deletes it)."""

    retention: list[RetentionClass] = []
    default_class: Id | None = None

    def retention_class(self, class_id: str) -> RetentionClass | None:
        return next((c for c in self.retention if c.id == class_id), None)


BRIDGE_KINDS = frozenset({"bridge", "voice", "video", "zoom", "meet", "conference"})


class Channel(_Model):
    """Where responders coordinate (a chat channel, a bridge), with its own update cadence."""

    id: Id
    name: str
    kind: str | None = None
    address: str | None = None
    purpose: str | None = None
    participants: str | None = None
    update_every: dict[Id, OptDuration] = {}
    note: str | None = None


# -- severities -------------------------------------------------------------------------------


class EscalationStep(_Model):
    after: ReqDuration
    when: EscalateWhen
    notify: list[Id] = []
    note: str | None = None


class StageCondition(_Model):
    """A member of a stage's audience is told only when the incident has one of these flags
    or types ("Security Officer (if security-related)")."""

    flags: list[Id] = []
    types: list[Id] = []
    note: str | None = None


class CommunicationStage(_Model):
    """One stage of a severity's communication tree.

    It opens `opens_after` its start (`starts_from`: the declaration, or the resolution for a
    resolution notice) and is due `within` of the same start. An `auto` stage is sent when it
    opens; a `prompt` stage asks the communications lead to send it. A `conditions` entry
    limits a member of the audience to incidents with a flag or type: write it as the
    runbook does (`if security-related`, naming a flag or type) or as `{flags: [...]}`.
    """

    stage: Id
    name: str | None = None
    window: str | None = None
    within: ReqDuration
    opens_after: OptDuration = None
    starts_from: Literal["declared", "resolved"] = "declared"
    mode: Literal["auto", "prompt"] = "auto"
    template: Id | None = None
    owed_after_resolution: bool = False
    audience: list[Id] = []
    channels: list[str] = []
    actions: list[str] = []
    conditions: dict[Id, str | StageCondition] = {}
    note: str | None = None

    @property
    def title(self) -> str:
        return self.name or self.stage


class ReviewRule(_Model):
    """Whether this severity needs a post-incident review, and by when after resolution.

    `required` None defers to `post_incident.required_for`; `within` None defers to
    `post_incident.review_within`.
    """

    required: bool | None = None
    within: OptDuration = None


class Severity(_Model):
    id: Id
    name: str
    tagline: str | None = None
    description: str = ""
    criteria: list[str] = []
    examples: list[str] = []
    respond_within: OptDuration = None
    resolve_within: OptDuration = None
    update_every: OptDuration = None
    update_audience: list[Id] = []
    update_channel: str | None = None
    update_template: Id | None = None
    update_notes: str | None = None
    pages: bool = False
    review: ReviewRule = ReviewRule()
    escalation: list[EscalationStep] = []
    escalation_note: str | None = None
    communication: list[CommunicationStage] = []
    status_page: str | None = None
    notes: list[str] = []


# -- procedure --------------------------------------------------------------------------------


class Link(_Model):
    title: str
    url: str | None = None


class IncidentType(_Model):
    id: Id
    name: str
    description: str = ""
    examples: list[str] = []
    checklists: dict[Id, list[str]] = {}
    runbooks: list[Link] = []


class Step(_Model):
    name: str
    target: str | None = None
    checklist: list[str] = []


class Phase(_Model):
    id: Id
    name: str
    target: str | None = None
    within: OptDuration = None
    checklist: list[str] = []
    steps: list[Step] = []
    note: str | None = None


class Template(_Model):
    """A message with `{{ placeholder }}` fields; see `placeholders()`."""

    id: Id
    name: str
    audience: list[Id] = []
    channel: str | None = None
    when: list[Id] = []
    types: list[Id] = []
    flags: list[Id] = []
    format: Literal["text", "markdown"] = "text"
    subject: str | None = None
    body: str
    note: str | None = None

    def placeholders(self) -> list[str]:
        """The variables used in subject and body (`incident.id`), in first-seen order."""
        return variables_used(f"{self.subject or ''}\n{self.body}")


# -- after the incident -----------------------------------------------------------------------


class ActionItemClass(_Model):
    id: Id
    name: str
    within: ReqDuration
    description: str | None = None


class AgendaItem(_Model):
    topic: str
    minutes: int | None = Field(default=None, ge=0)


class PostIncident(_Model):
    """Reviews are due `review_within` after resolution, for `required_for` (None = all)."""

    review_within: OptDuration = None
    required_for: list[Id] | None = None
    required_sections: list[str] = []
    blameless: bool | None = None
    meeting_length: str | None = None
    participants: str | None = None
    agenda: list[AgendaItem] = []
    activities: list[Step] = []
    action_item_classes: list[ActionItemClass] = []
    documentation: list[str] = []
    notes: list[str] = []


class Trigger(_Model):
    """When a regime applies: every condition given must hold; within a list, any one."""

    flags: list[Id] = []
    types: list[Id] = []
    severities: list[Id] = []

    def is_empty(self) -> bool:
        return not (self.flags or self.types or self.severities)


class Regulatory(_Model):
    """A notice owed to a regulator or counsel, `within` after the `from` fact.

    `within` None records the obligation (e.g. "per contract") without starting a clock.
    """

    id: Slug
    name: str
    within: OptDuration = None
    from_: Literal["awareness", "declared", "confirmed"] = Field("awareness", alias="from")
    trigger: Trigger
    notify: list[Id] = []
    note: str | None = None


class Drill(_Model):
    """One entry of the drill programme: an exercise held on `cadence`.

    A drill runs as an incident flagged `drill` at `severity` (else the least severe level).
    `audience`, an audience id, is who a drill's pages and messages go to, instead of the
    people the policy would otherwise tell; without it they go to the usual people, marked
    DRILL. The programme-level `Policy.drill_audience` is the default for every entry.
    `owner` runs the drill and is reminded of it first: a role or audience id, or
    `person:<handle>` / `team:<handle>` from the on-call file.
    """

    id: Id
    kind: Literal["tabletop", "simulation", "dry_run", "review"]
    severity: Id | None = None
    cadence: Cadence
    scope: str = ""
    participants: str | None = None
    note: str | None = None
    audience: Id | None = None
    owner: Owner | None = None


class Training(_Model):
    id: Id
    who: str
    cadence: Cadence | None = None
    within: OptDuration = None
    scope: str = ""


class OnCall(_Model):
    rotation: str | None = None
    layers: list[str] = []
    tool: str | None = None
    handoff: str | None = None
    respond_within: OptDuration = None
    duties: list[str] = []


class Tool(_Model):
    purpose: str
    name: str | None = None
    note: str | None = None


class Revision(_Model):
    version: Label
    date: dt.date | None = None
    changes: str | None = None
    author: str | None = None


class Document(_Model):
    """Facts about the runbook document itself (owner, review schedule, history)."""

    owner: str | None = None
    status: str | None = None
    classification: str | None = None
    last_updated: date | None = None
    review_schedule: str | None = None
    next_review: date | None = None
    references: list[Link] = []
    history: list[Revision] = []
    notes: list[str] = []


class Guidance(_Model):
    """Runbook text that sets no clock (tools, detection sources, metrics) kept verbatim."""

    title: str
    items: list[str]


# -- the policy -------------------------------------------------------------------------------


class Policy(_Model):
    name: Slug
    title: str
    version: Annotated[str | None, PlainValidator(_optional_label), _LABEL_SCHEMA] = None
    description: str = ""
    timezone: str = "UTC"
    business_hours: BusinessHours = BusinessHours()
    holidays: Holidays = Holidays()
    document: Document = Document()
    completions: list[str] = []
    flags: list[Flag] = []
    containment_flags: list[ContainmentFlag] = []
    evidence: EvidencePolicy = EvidencePolicy()
    severities: list[Severity] = Field(min_length=1)
    audiences: list[Audience] = []
    roles: list[Role] = []
    escalation_chain: list[Id] = []
    escalation_triggers: list[str] = []
    channels: list[Channel] = []
    incident_types: list[IncidentType] = []
    phases: list[Phase] = []
    templates: list[Template] = []
    update_template: Id | None = None
    fallback: list[Id] = []
    # Who is reminded about each clock kind (role ids), e.g. {update: [communications_lead]}.
    reminders: dict[str, list[Id]] = {}
    post_incident: PostIncident = PostIncident()
    regulatory: list[Regulatory] = []
    routing: Routing = Field(default_factory=Routing)
    drills: list[Drill] = []
    # Who every drill's pages and messages go to (an audience id); a drill's own `audience`
    # wins. None: a drill tells the usual people, marked DRILL.
    drill_audience: Id | None = None
    status_page: StatusPageSettings = StatusPageSettings()
    training: list[Training] = []
    on_call: OnCall = OnCall()
    tools: list[Tool] = []
    guidance: list[Guidance] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like UTC") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        problems = list(_problems(self))
        if problems:
            raise PolicyProblems(problems)
        return self

    # -- lookups --

    def severity(self, severity_id: str) -> Severity:
        for severity in self.severities:
            if severity.id == severity_id:
                return severity
        raise UnknownSeverity(severity_id, self.severity_ids())

    def severity_ids(self) -> list[str]:
        return [severity.id for severity in self.severities]

    def rank(self, severity_id: str) -> int:
        """0 for the most severe; larger is milder."""
        return self.severity_ids().index(self.severity(severity_id).id)

    def type_ids(self) -> list[str]:
        return [incident_type.id for incident_type in self.incident_types]

    def role_ids(self) -> list[str]:
        return [role.id for role in self.roles]

    def flag_ids(self) -> list[str]:
        return [flag.id for flag in self.flags]

    def switch(self, switch_id: str) -> ContainmentFlag | None:
        return next((s for s in self.containment_flags if s.id == switch_id), None)

    def switch_ids(self) -> list[str]:
        return [switch.id for switch in self.containment_flags]

    def target_ids(self) -> list[str]:
        """Everything a step may notify: role ids, then audience ids."""
        return self.role_ids() + [audience.id for audience in self.audiences]

    def target_name(self, target_id: str) -> str:
        found = {role.id: role.name for role in self.roles}
        found.update((audience.id, audience.name) for audience in self.audiences)
        return found.get(target_id, target_id)

    def channel(self, channel_id: str) -> Channel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def bridge(self, severity_id: str | None = None) -> str:
        """The conference bridge link for pages and updates: the severity's `update_channel`
        if it is a bridge with an address (Rastup's executive bridge for SEV4), else the
        first bridge with one; empty if the policy gives no link."""
        bridges = [c for c in self.channels if c.kind in BRIDGE_KINDS and c.address]
        severity = next((s for s in self.severities if s.id == severity_id), None)
        named = severity.update_channel if severity else None
        chosen = [c for c in bridges if named in (c.id, c.name)] + bridges
        return (chosen[0].address or "") if chosen else ""

    def template(self, template_id: str) -> Template | None:
        return next((t for t in self.templates if t.id == template_id), None)

    def drill(self, drill_id: str) -> Drill | None:
        return next((d for d in self.drills if d.id == drill_id), None)

    def drill_audience_for(self, drill: Drill) -> str | None:
        """The audience a drill's pages and messages go to, or None (the usual people)."""
        return drill.audience or self.drill_audience

    def audience(self, audience_id: str) -> Audience | None:
        return next((a for a in self.audiences if a.id == audience_id), None)

    def update_template_for(self, severity_id: str) -> str | None:
        return self.severity(severity_id).update_template or self.update_template

    def condition(self, stage: CommunicationStage, target: str) -> StageCondition | None:
        """The condition on `target` in this stage, with a runbook phrase resolved to the
        flag or type it names (None if the target is unconditional)."""
        written = stage.conditions.get(target)
        if written is None or isinstance(written, StageCondition):
            return written
        return self._phrase_condition(written)

    def _phrase_condition(self, phrase: str) -> StageCondition | None:
        wanted = _plain(phrase.removeprefix("if ").removeprefix("If "))
        flags = [f.id for f in self.flags if wanted in (_plain(f.id), _plain(f.name))]
        types = [t.id for t in self.incident_types if wanted in (_plain(t.id), _plain(t.name))]
        if not flags and not types:
            return None
        return StageCondition(flags=flags, types=types, note=phrase)

    def review_rule(self, severity_id: str) -> tuple[bool, Duration | None]:
        """(whether a review is required, how long after resolution it is due)."""
        severity = self.severity(severity_id)
        required = severity.review.required
        if required is None:
            listed = self.post_incident.required_for
            required = listed is None or severity.id in listed
        return required, severity.review.within or self.post_incident.review_within

    def action_item_class(self, class_id: str) -> ActionItemClass:
        for item in self.post_incident.action_item_classes:
            if item.id == class_id:
                return item
        known = [item.id for item in self.post_incident.action_item_classes]
        raise UnknownActionItemClass(class_id, known)

    def status_page_audience(self) -> str | None:
        """The audience the status page speaks for: named, else `customers` if defined."""
        named = self.status_page.audience
        return named or ("customers" if self.audience("customers") is not None else None)

    def status_page_name(self) -> str:
        return self.status_page.name or self.title

    def calendar(self) -> BusinessCalendar:
        """Business time for this policy's clocks, in its time zone, skipping its holidays."""
        return self.business_calendar

    # Cached outside the fields, so it does not take part in equality: the calendar keeps
    # holiday tables per year and a policy is consulted on every clock.
    @cached_property
    def business_calendar(self) -> BusinessCalendar:
        hours, days = self.business_hours, self.business_hours.days
        return BusinessCalendar(
            timezone=self.timezone,
            day_start=hours.start,
            day_end=hours.end,
            weekdays=frozenset(WEEKDAYS.index(day) for day in days),
            holiday_country=self.holidays.country,
            holiday_subdiv=self.holidays.subdiv,
            extra_holidays=self.holidays.extra,
        )


# -- cross-field checks -----------------------------------------------------------------------

Problems = Iterator[tuple[Loc, str]]


def _problems(policy: Policy) -> Problems:
    yield from _unique_ids(policy)
    yield from _severity_problems(policy)
    yield from _procedure_problems(policy)
    yield from _after_incident_problems(policy)
    yield from _routing_problems(policy)
    yield from _evidence_problems(policy)
    yield from _status_page_problems(policy)


def _evidence_problems(policy: Policy) -> Problems:
    evidence = policy.evidence
    yield from _duplicates(("evidence", "retention"), evidence.retention)
    for index, kept in enumerate(evidence.retention):
        if kept.keep.kind != "calendar":
            loc: Loc = ("evidence", "retention", index, "keep")
            yield loc, f"{kept.keep} is not calendar time; write days, e.g. 90d or 365d"
    known = [c.id for c in evidence.retention]
    if evidence.default_class is not None and evidence.default_class not in known:
        yield (
            ("evidence", "default_class"),
            f"unknown retention class {evidence.default_class!r}; allowed: "
            f"{', '.join(known) or 'none defined'}",
        )


def _routing_problems(policy: Policy) -> Problems:
    known = policy.severity_ids()
    for index, rule in enumerate(policy.routing.rules):
        if rule.severity is not None and rule.severity not in known:
            loc: Loc = ("routing", "rules", index, "severity")
            yield loc, f"unknown severity {rule.severity!r}; this policy has {', '.join(known)}"
    # An alert has no incident, so nobody holds a role for it: audiences only.
    audiences = [audience.id for audience in policy.audiences]
    for index, rule in enumerate(policy.routing.rules):
        loc = ("routing", "rules", index, "notify")
        yield from _references(loc, rule.notify, audiences, "audience")


def _status_page_problems(policy: Policy) -> Problems:
    page = policy.status_page
    audiences = [audience.id for audience in policy.audiences]
    if page.audience is not None:
        yield from _references(("status_page", "audience"), [page.audience], audiences, "audience")
    yield from _mapping_keys(
        ("status_page", "impact"), page.impact, policy.severity_ids(), "severity"
    )


def _plain(text: str) -> str:
    """'Security-related', 'security_related' and 'security related' compare alike."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _duplicates(loc: Loc, items: Iterable[Any], attr: str = "id") -> Problems:
    seen: set[str] = set()
    for index, item in enumerate(items):
        value = getattr(item, attr)
        if value in seen:
            yield (*loc, index, attr), f"duplicate {attr} {value!r}"
        seen.add(value)


def _unique_ids(policy: Policy) -> Problems:
    for name in (
        "flags",
        "containment_flags",
        "severities",
        "audiences",
        "roles",
        "channels",
        "incident_types",
        "phases",
        "templates",
        "regulatory",
        "drills",
        "training",
    ):
        yield from _duplicates((name,), getattr(policy, name))
    yield from _duplicates(
        ("post_incident", "action_item_classes"), policy.post_incident.action_item_classes
    )
    roles = set(policy.role_ids())
    for index, audience in enumerate(policy.audiences):
        if audience.id in roles:
            yield (
                ("audiences", index, "id"),
                (f"{audience.id!r} is already a role id; a target must name one thing"),
            )


def _references(loc: Loc, ids: Iterable[str], known: list[str], what: str) -> Problems:
    for index, ref in enumerate(ids):
        if ref not in known:
            allowed = ", ".join(known) if known else "none defined"
            yield (*loc, index), f"unknown {what} {ref!r}; allowed: {allowed}"


def _targets(policy: Policy) -> Callable[[Loc, Iterable[str]], Problems]:
    known = policy.target_ids()

    def check(loc: Loc, ids: Iterable[str]) -> Problems:
        return _references(loc, ids, known, "target (role or audience)")

    return check


def _severity_problems(policy: Policy) -> Problems:
    check = _targets(policy)
    for index, severity in enumerate(policy.severities):
        loc: Loc = ("severities", index)
        yield from check((*loc, "update_audience"), severity.update_audience)
        for step_index, step in enumerate(severity.escalation):
            yield from check((*loc, "escalation", step_index, "notify"), step.notify)
        yield from _escalation_order(loc, severity.escalation)
        yield from _duplicates((*loc, "communication"), severity.communication, "stage")
        for stage_index, stage in enumerate(severity.communication):
            yield from _stage_problems(policy, (*loc, "communication", stage_index), stage)
        yield from _template_ref(policy, (*loc, "update_template"), severity.update_template)
        yield from _review_conflict(policy, loc, severity)


def _stage_problems(policy: Policy, loc: Loc, stage: CommunicationStage) -> Problems:
    yield from _targets(policy)((*loc, "audience"), stage.audience)
    yield from _template_ref(policy, (*loc, "template"), stage.template)
    for target in stage.conditions:
        if target not in stage.audience:
            yield (*loc, "conditions", target), f"{target!r} is not in this stage's audience"
        elif policy.condition(stage, target) is None:
            yield (
                (*loc, "conditions", target),
                f"{stage.conditions[target]!r} names no flag or incident type of this policy; "
                f"write it as 'if <flag name>' or {{flags: [...]}} (flags: "
                f"{', '.join(policy.flag_ids()) or 'none'})",
            )
    opens, within = stage.opens_after, stage.within
    same_kind = opens is not None and _nominal(opens)[0] == _nominal(within)[0]
    if opens is not None and same_kind and _nominal(opens)[1] > _nominal(within)[1]:
        yield (*loc, "opens_after"), f"{opens} is after the stage is due ({within})"


def _template_ref(policy: Policy, loc: Loc, template_id: str | None) -> Problems:
    if template_id is not None and policy.template(template_id) is None:
        known = ", ".join(t.id for t in policy.templates) or "none defined"
        yield loc, f"unknown template {template_id!r}; allowed: {known}"


def _nominal(duration: Duration) -> tuple[str, float]:
    # Steps are only ordered against steps counted the same way; calendar and immediate
    # compare with each other, business time with itself.
    kind = "calendar" if duration.kind in ("calendar", "immediate") else str(duration.kind)
    return kind, duration.amount.total_seconds()


def _escalation_order(loc: Loc, steps: list[EscalationStep]) -> Problems:
    last: dict[tuple[str, str], tuple[float, Duration]] = {}
    for index, step in enumerate(steps):
        kind, seconds = _nominal(step.after)
        previous = last.get((step.when, kind))
        if previous is not None and seconds < previous[0]:
            yield (
                (*loc, "escalation", index, "after"),
                (
                    f"{step.after} comes before the previous {step.when} step ({previous[1]}); "
                    "list escalation steps in the order they fire"
                ),
            )
        last[(step.when, kind)] = (seconds, step.after)


def _review_conflict(policy: Policy, loc: Loc, severity: Severity) -> Problems:
    listed = policy.post_incident.required_for
    if severity.review.required is None or listed is None:
        return
    if severity.review.required != (severity.id in listed):
        yield (
            (*loc, "review", "required"),
            (
                f"says {severity.review.required} but post_incident.required_for "
                f"{'lists' if severity.id in listed else 'does not list'} {severity.id}"
            ),
        )


def _procedure_problems(policy: Policy) -> Problems:
    check = _targets(policy)
    severities, types, flags = policy.severity_ids(), policy.type_ids(), policy.flag_ids()
    phases, roles = [phase.id for phase in policy.phases], policy.role_ids()
    for index, audience in enumerate(policy.audiences):
        if audience.role is not None:
            yield from _references(("audiences", index, "role"), [audience.role], roles, "role")
        member_roles = [m.partition(":")[2] for m in audience.members if m.startswith("role:")]
        yield from _references(("audiences", index, "members"), member_roles, roles, "role")
    audience_ids = [audience.id for audience in policy.audiences]
    yield from _references(("fallback",), policy.fallback, audience_ids, "audience")
    for kind, reminded in policy.reminders.items():
        yield from _references(("reminders", kind), reminded, roles, "role")
    yield from _template_ref(policy, ("update_template",), policy.update_template)
    yield from check(("escalation_chain",), policy.escalation_chain)
    for index, channel in enumerate(policy.channels):
        yield from _mapping_keys(
            ("channels", index, "update_every"), channel.update_every, severities, "severity"
        )
    for index, incident_type in enumerate(policy.incident_types):
        yield from _mapping_keys(
            ("incident_types", index, "checklists"), incident_type.checklists, phases, "phase"
        )
    for index, template in enumerate(policy.templates):
        loc: Loc = ("templates", index)
        for field in ("subject", "body"):
            for problem in template_problems(getattr(template, field) or ""):
                yield (*loc, field), problem
        yield from check((*loc, "audience"), template.audience)
        yield from _references((*loc, "when"), template.when, severities, "severity")
        yield from _references((*loc, "types"), template.types, types, "incident type")
        yield from _references((*loc, "flags"), template.flags, flags, "flag")
    audience_ids = [a.id for a in policy.audiences]
    if policy.drill_audience is not None and policy.drill_audience not in audience_ids:
        allowed = ", ".join(audience_ids) or "none defined"
        yield ("drill_audience",), f"unknown audience {policy.drill_audience!r}; allowed: {allowed}"
    for index, drill in enumerate(policy.drills):
        if drill.severity is not None:
            yield from _references(
                ("drills", index, "severity"), [drill.severity], severities, "severity"
            )
        if drill.audience is not None and drill.audience not in audience_ids:
            allowed = ", ".join(audience_ids) or "none defined"
            yield (
                ("drills", index, "audience"),
                f"unknown audience {drill.audience!r}; allowed: {allowed}",
            )
        yield from _drill_owner(policy, index, drill.owner)


def _drill_owner(policy: Policy, index: int, owner: str | None) -> Problems:
    """A bare owner id must be one of the policy's roles or audiences; `person:`/`team:`
    name the on-call file, which the policy cannot see."""
    if owner is None or ":" in owner or owner in policy.target_ids():
        return
    allowed = ", ".join(policy.target_ids()) or "none defined"
    yield (
        ("drills", index, "owner"),
        f"unknown owner {owner!r}; allowed: a role or audience id ({allowed}), "
        "or person:<handle> or team:<handle>",
    )


def _mapping_keys(loc: Loc, mapping: dict[str, Any], known: list[str], what: str) -> Problems:
    for key in mapping:
        if key not in known:
            yield (*loc, key), f"unknown {what} {key!r}; allowed: {', '.join(known) or 'none'}"


def _after_incident_problems(policy: Policy) -> Problems:
    check = _targets(policy)
    severities, types, flags = policy.severity_ids(), policy.type_ids(), policy.flag_ids()
    required_for = policy.post_incident.required_for or []
    yield from _references(("post_incident", "required_for"), required_for, severities, "severity")
    for index, regime in enumerate(policy.regulatory):
        loc: Loc = ("regulatory", index)
        yield from check((*loc, "notify"), regime.notify)
        trigger = regime.trigger
        if trigger.is_empty():
            yield (*loc, "trigger"), "needs at least one of flags, types or severities"
        yield from _references((*loc, "trigger", "flags"), trigger.flags, flags, "flag")
        yield from _references((*loc, "trigger", "types"), trigger.types, types, "incident type")
        yield from _references(
            (*loc, "trigger", "severities"), trigger.severities, severities, "severity"
        )
