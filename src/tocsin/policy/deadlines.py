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
from dataclasses import dataclass
from datetime import datetime

from tocsin.policy.clock_kinds import (
    ACKNOWLEDGE,
    COMMS,
    ESCALATION,
    RESOLVE,
    REVIEW,
    UPDATE,
    regulatory_kind,
)
from tocsin.policy.durations import Duration, DurationKind
from tocsin.policy.schema import (
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
    "plan_update_clock",
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


def plan_incident_clocks(policy: Policy, severity_id: str, start: datetime) -> list[PlannedClock]:
    """Clocks started when an incident is declared at `start`, sorted by due time.

    1. Acknowledge, first update and resolve, from the severity's targets.
    2. One clock per escalation step; unacknowledged steps stop on acknowledgement,
       unresolved steps on resolution.
    3. One clock per communication stage, met when that stage's notice goes out.
    """
    severity = policy.severity(severity_id)
    clocks = [
        *_target_clocks(policy, severity, start),
        *_escalation_clocks(policy, severity, start),
        *(_comms_clock(policy, stage, start) for stage in severity.communication),
    ]
    return sorted(clocks, key=lambda clock: clock.due_at)


def _target_clocks(policy: Policy, severity: Severity, start: datetime) -> list[PlannedClock]:
    clocks: list[PlannedClock] = []
    if severity.respond_within is not None:
        clocks.append(
            _clock(
                policy,
                ACKNOWLEDGE.key,
                start,
                severity.respond_within,
                f"Acknowledge {within(severity.respond_within)}",
                stop_on="acknowledged",
            )
        )
    update = plan_update_clock(policy, severity.id, start)
    if update is not None:
        clocks.append(update)
    if severity.resolve_within is not None:
        clocks.append(
            _clock(
                policy,
                RESOLVE.key,
                start,
                severity.resolve_within,
                f"Resolve {within(severity.resolve_within)}",
                stop_on="resolved",
            )
        )
    return clocks


def _escalation_clocks(policy: Policy, severity: Severity, start: datetime) -> list[PlannedClock]:
    counts: dict[str, int] = {}
    clocks = []
    for step in severity.escalation:
        counts[step.when] = counts.get(step.when, 0) + 1
        clocks.append(_escalation_clock(policy, step, counts[step.when], start))
    return clocks


def _escalation_clock(
    policy: Policy, step: EscalationStep, number: int, start: datetime
) -> PlannedClock:
    whom = names(policy, step.notify)
    label = (
        f"{'Escalate to' if step.notify else 'Remind'} {whom} if {step.when} {after(step.after)}"
    )
    return PlannedClock(
        kind=ESCALATION.key,
        key=f"{ESCALATION.key}:{step.when}:{number}",
        due_at=policy.calendar().add(start, step.after),
        action="escalate" if step.notify else "remind",
        label=label + (f" ({step.note})" if step.note else ""),
        targets=tuple(step.notify),
        stop_on="acknowledged" if step.when == "unacknowledged" else "resolved",
    )


def _comms_clock(policy: Policy, stage: CommunicationStage, start: datetime) -> PlannedClock:
    title = stage.name or stage.stage
    return PlannedClock(
        kind=COMMS.key,
        key=f"{COMMS.key}:{stage.stage}",
        due_at=policy.calendar().add(start, stage.within),
        action="notify",
        label=f"{title}: notify {names(policy, stage.audience)} {within(stage.within)}",
        targets=tuple(stage.audience),
        stop_on="notified",
    )


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
    return _clock(policy, UPDATE.key, last_update_at, every, label, stop_on="updated")


def _clock(
    policy: Policy, kind: str, start: datetime, duration: Duration, label: str, *, stop_on: str
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
    return _clock(policy, REVIEW.key, resolved_at, window, label, stop_on="reviewed")


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
