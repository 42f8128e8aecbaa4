"""Which clocks a policy sets for an incident, and when each is due.

Pure planning: no database and no "now". Each function takes the instant a clock counts
from (declaration, last update, resolution, awareness of a breach) and returns
`PlannedClock`s whose `due_at` is aware UTC, computed in the policy's business calendar.
A target the policy leaves unset or marks "n/a" gives no clock.

`targets` name roles or audiences of the policy. An empty `targets` on a reminder means
"whoever currently holds the incident" (its commander and responders).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from tocsin.policy.clock_kinds import (
    ACKNOWLEDGE,
    COMMS,
    COMMS_OPEN,
    ESCALATION,
    RESOLVE,
    REVIEW,
    UPDATE,
    regulatory_kind,
)
from tocsin.policy.durations import Duration, DurationKind
from tocsin.policy.schema import (
    Channel,
    CommunicationStage,
    EscalationStep,
    Policy,
    Regulatory,
    Severity,
)

__all__ = [
    "PlannedClock",
    "action_item_due",
    "plan_incident_clocks",
    "plan_regulatory_clocks",
    "plan_review_clock",
    "plan_stage_clocks",
    "plan_update_clock",
    "plan_update_clocks",
    "stage_of",
]


@dataclass(frozen=True)
class PlannedClock:
    """One deadline an incident gets from its policy.

    - kind: one of tocsin.policy.clock_kinds (acknowledge, update, resolve, escalation,
      comms, review, regulatory:<id>).
    - key: unique within an incident ("escalation:unresolved:2", "comms:extended").
    - action: what happens when it comes due: remind, escalate or notify.
    - stop_on: the incident event that meets or cancels it (acknowledged, resolved,
      updated, reviewed, notified), or None.
    """

    kind: str
    key: str
    due_at: datetime
    action: str
    label: str
    targets: tuple[str, ...]
    stop_on: str | None


def within(duration: Duration) -> str:
    """ "within 15 minutes", "immediately", "by the next business day"."""
    if duration.kind is DurationKind.IMMEDIATE:
        return "immediately"
    if duration.kind is DurationKind.NEXT_BUSINESS_DAY:
        return "by the next business day"
    if duration.kind is DurationKind.BUSINESS_HOURS and not duration.amount:
        return "during business hours"
    return f"within {duration.describe()}"


def after(duration: Duration) -> str:
    """ "after 30 minutes", "at once", "on the next business day"."""
    if duration.kind is DurationKind.IMMEDIATE:
        return "at once"
    if duration.kind is DurationKind.NEXT_BUSINESS_DAY:
        return "on the next business day"
    return f"after {duration.describe()}"


def names(policy: Policy, targets: list[str] | tuple[str, ...]) -> str:
    return ", ".join(policy.target_name(target) for target in targets) or "the responders"


# -- incident ---------------------------------------------------------------------------------


def is_act(duration: Duration) -> bool:
    """ "Immediately", "at once", 0 minutes, or "in business hours": something to do now (or
    as business hours open), not a deadline that is missed the moment it starts."""
    return duration.kind is DurationKind.IMMEDIATE or (
        duration.kind is DurationKind.BUSINESS_HOURS and not duration.amount
    )


def plan_incident_clocks(policy: Policy, severity_id: str, start: datetime) -> list[PlannedClock]:
    """Clocks started when an incident is declared at `start`, sorted by due time.

    1. Acknowledge, first update (and each channel's own cadence) and resolve, from the
       severity's targets.
    2. One clock per escalation step; unacknowledged steps stop on acknowledgement,
       unresolved steps on resolution.
    3. Per communication stage: a clock that opens it (sends it, or prompts the
       communications lead) and, unless it is an act, the deadline it must be out by.
    """
    severity = policy.severity(severity_id)
    clocks = [
        *_target_clocks(policy, severity, start),
        *_escalation_clocks(policy, severity, start),
        *plan_stage_clocks(policy, severity.id, start, starts_from="declared"),
    ]
    return sorted(clocks, key=lambda clock: clock.due_at)


def _target_clocks(policy: Policy, severity: Severity, start: datetime) -> list[PlannedClock]:
    clocks: list[PlannedClock] = []
    respond = _deadline(policy, severity.respond_within, "respond_within")
    if respond is not None:
        label = f"Acknowledge {within(respond)}" + _strictest_note(severity.respond_within)
        clocks.append(_clock(policy, ACKNOWLEDGE.key, start, respond, label, "acknowledged"))
    clocks += plan_update_clocks(policy, severity.id, start)
    resolve = _deadline(policy, severity.resolve_within, "resolve_within")
    if resolve is not None:
        label = f"Resolve {within(resolve)}" + _strictest_note(severity.resolve_within)
        clocks.append(_clock(policy, RESOLVE.key, start, resolve, label, "resolved"))
    return clocks


def _deadline(policy: Policy, target: Duration | None, attribute: str) -> Duration | None:
    """The target as a deadline. "asap" or "immediately" is at least as strict as the
    strictest real target of the ladder (rastup SEV4 resolves "asap": within SEV3's 1 hour),
    never an automatic breach; a ladder with no real target gives no clock."""
    if target is None or not is_act(target):
        return target
    real = [
        d
        for d in (getattr(s, attribute) for s in policy.severities)
        if d is not None and not is_act(d)
    ]
    calendar = [d for d in real if d.kind is DurationKind.CALENDAR]
    return min(calendar, key=lambda d: d.amount) if calendar else (real[0] if real else None)


def _strictest_note(target: Duration | None) -> str:
    return (
        " (as soon as possible; at most the ladder's strictest target)"
        if (target is not None and is_act(target))
        else ""
    )


def _escalation_clocks(policy: Policy, severity: Severity, start: datetime) -> list[PlannedClock]:
    counts: dict[str, int] = {}
    clocks = []
    for step in severity.escalation:
        counts[step.when] = counts.get(step.when, 0) + 1
        clocks.append(_escalation_clock(policy, severity, step, counts[step.when], start))
    return clocks


def _escalation_clock(
    policy: Policy, severity: Severity, step: EscalationStep, number: int, start: datetime
) -> PlannedClock:
    whom = names(policy, step.notify)
    label = (
        f"{'Escalate to' if step.notify else 'Remind'} {whom} if {step.when} {after(step.after)}"
    )
    return PlannedClock(
        kind=ESCALATION.key,
        key=f"{ESCALATION.key}:{severity.id}:{step.when}:{number}",
        due_at=policy.calendar().add(start, step.after),
        action="escalate" if step.notify else "remind",
        label=label + (f" ({step.note})" if step.note else ""),
        targets=tuple(step.notify),
        stop_on="acknowledged" if step.when == "unacknowledged" else "resolved",
    )


def stage_key(severity_id: str, stage: CommunicationStage, *, opening: bool = False) -> str:
    kind = COMMS_OPEN.key if opening else COMMS.key
    return f"{kind}:{severity_id}:{stage.stage}"


def stage_of(policy: Policy, key: str) -> tuple[Severity, CommunicationStage] | None:
    """The severity and stage a comms clock's key names ("comms:P0:extended")."""
    _, _, rest = key.partition(":")
    severity_id, _, stage_id = rest.partition(":")
    severity = next((s for s in policy.severities if s.id == severity_id), None)
    if severity is None:
        return None
    stage = next((st for st in severity.communication if st.stage == stage_id), None)
    return None if stage is None else (severity, stage)


def plan_stage_clocks(
    policy: Policy, severity_id: str, start: datetime, *, starts_from: str
) -> list[PlannedClock]:
    """The stages of this severity that count from `starts_from` (declared or resolved)."""
    severity = policy.severity(severity_id)
    clocks: list[PlannedClock] = []
    for stage in severity.communication:
        if stage.starts_from == starts_from:
            clocks += _stage_clocks(policy, severity, stage, start)
    return clocks


def plan_stage_deadline(
    policy: Policy, severity: Severity, stage: CommunicationStage, start: datetime
) -> PlannedClock | None:
    """The stage's deadline counted from `start` (None for a stage that is an act): a stage
    reopened for an audience member that came to apply later is owed from then."""
    clocks = _stage_clocks(policy, severity, stage, start)
    return clocks[1] if len(clocks) > 1 else None


def _stage_clocks(
    policy: Policy, severity: Severity, stage: CommunicationStage, start: datetime
) -> list[PlannedClock]:
    calendar = policy.calendar()
    opens_at = _opens_at(policy, stage, start)
    whom = names(policy, stage.audience)
    verb = "Send" if stage.mode == "auto" else "Prompt the communications lead to send"
    opening = PlannedClock(
        kind=COMMS_OPEN.key,
        key=stage_key(severity.id, stage, opening=True),
        due_at=opens_at,
        action="notify" if stage.mode == "auto" else "prompt",
        label=f"{stage.title}: {verb.lower()} to {whom}",
        targets=tuple(stage.audience),
        stop_on=None,
    )
    if is_act(stage.within):
        return [opening]
    deadline = PlannedClock(
        kind=COMMS.key,
        key=stage_key(severity.id, stage),
        due_at=calendar.add(start, stage.within),
        action="notify",
        label=f"{stage.title}: notify {whom} {within(stage.within)}",
        targets=tuple(stage.audience),
        stop_on="notified",
    )
    return [opening, deadline]


def _opens_at(policy: Policy, stage: CommunicationStage, start: datetime) -> datetime:
    """When a stage opens: `opens_after` its start; a stage counted in business time (or
    due "in business hours") also waits for business hours to open."""
    calendar = policy.calendar()
    opens_at = calendar.add(start, stage.opens_after) if stage.opens_after else start
    if stage.within.kind in (DurationKind.BUSINESS_HOURS, DurationKind.BUSINESS_DAYS):
        opens_at = calendar.next_open(opens_at)
    return opens_at


def plan_update_clocks(
    policy: Policy, severity_id: str, last_update_at: datetime
) -> list[PlannedClock]:
    """The next stakeholder update, and each coordination channel's own cadence for this
    severity (MaxAI P1: stakeholders every 2 hours, the Slack channel every hour)."""
    found = [plan_update_clock(policy, severity_id, last_update_at)]
    found += [
        _channel_update_clock(policy, channel, every, last_update_at)
        for channel in policy.channels
        if (every := channel.update_every.get(severity_id)) is not None
    ]
    return [clock for clock in found if clock is not None]


def plan_update_clock(
    policy: Policy, severity_id: str, last_update_at: datetime
) -> PlannedClock | None:
    """The next stakeholder update, counted from the last one (or from declaration)."""
    severity = policy.severity(severity_id)
    if severity.update_every is None:
        return None
    label = f"Post an update {within(severity.update_every)}"
    if severity.update_audience:
        label += f" to {names(policy, severity.update_audience)}"
    every = severity.update_every
    clock = _clock(policy, UPDATE.key, last_update_at, every, label, "updated")
    return replace(clock, targets=tuple(severity.update_audience))


def _channel_update_clock(
    policy: Policy, channel: Channel, every: Duration, last_update_at: datetime
) -> PlannedClock:
    label = f"Post an update in {channel.name} {within(every)}"
    clock = _clock(policy, UPDATE.key, last_update_at, every, label, "updated")
    return replace(
        clock, key=f"{UPDATE.key}:{channel.id}", targets=(f"policy_channel:{channel.id}",)
    )


def _clock(
    policy: Policy, kind: str, start: datetime, duration: Duration, label: str, stop_on: str
) -> PlannedClock:
    return PlannedClock(
        kind=kind,
        key=kind,
        due_at=policy.calendar().add(start, duration),
        action="remind",
        label=label,
        targets=(),
        stop_on=stop_on,
    )


# -- after the incident -----------------------------------------------------------------------


def plan_review_clock(
    policy: Policy, severity_id: str, resolved_at: datetime
) -> PlannedClock | None:
    """The post-incident review, due after resolution; None if this severity needs none."""
    required, window = policy.review_rule(severity_id)
    if not required or window is None:
        return None
    label = f"Hold the post-incident review {within(window)} of resolution"
    return _clock(policy, REVIEW.key, resolved_at, window, label, "reviewed")


def plan_regulatory_clocks(
    policy: Policy,
    *,
    flags: Mapping[str, object],
    incident_type: str | None,
    severity_id: str,
    aware_at: datetime,
) -> list[PlannedClock]:
    """Notices owed for this incident, counted from `aware_at`.

    `aware_at` is the fact each regime counts from (its `from`: awareness, declaration or
    confirmation); the caller passes the matching instant. Regimes without a deadline are
    obligations to record, not clocks, and are skipped.
    """
    policy.severity(severity_id)
    return [
        _regulatory_clock(policy, regime, regime.within, aware_at)
        for regime in policy.regulatory
        if regime.within is not None and _applies(regime, flags, incident_type, severity_id)
    ]


def _applies(
    regime: Regulatory, flags: Mapping[str, object], incident_type: str | None, severity_id: str
) -> bool:
    trigger = regime.trigger
    return (
        (not trigger.flags or any(flags.get(flag) for flag in trigger.flags))
        and (not trigger.types or incident_type in trigger.types)
        and (not trigger.severities or severity_id in trigger.severities)
    )


def _regulatory_clock(
    policy: Policy, regime: Regulatory, window: Duration, aware_at: datetime
) -> PlannedClock:
    label = (
        f"{regime.name}: notify {names(policy, regime.notify)} {within(window)} of {regime.from_}"
    )
    return PlannedClock(
        kind=regulatory_kind(regime.id),
        key=regulatory_kind(regime.id),
        due_at=policy.calendar().add(aware_at, window),
        action="notify",
        label=label,
        targets=tuple(regime.notify),
        stop_on="notified",
    )


def action_item_due(policy: Policy, class_id: str, from_: datetime) -> datetime:
    """When an action item of this class is due; UnknownActionItemClass lists the classes."""
    return policy.calendar().add(from_, policy.action_item_class(class_id).within)
