"""The first draft of a post-incident review, written from the incident's record.

Pure: it takes a `Record` (what the flows gathered from the incidents, alerts and
communications domains) and the policy, and returns Markdown. What the record knows is
written out (summary, impact, milestones, timeline, responders, alerts, communications);
what only people know follows the policy's template as headed placeholders.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tocsin.incidents.schemas import EventOut
from tocsin.incidents.wording import span_text, summarise, utc_text
from tocsin.policy.schema import Policy

PLACEHOLDER = "_To be written by the review's participants._"


@dataclass(frozen=True)
class AlertLine:
    summary: str
    service: str | None
    status: str
    count: int
    first_seen_at: datetime


@dataclass(frozen=True)
class MessageLine:
    kind: str
    subject: str
    audience: Sequence[str]
    channel: str
    status: str
    queued_at: datetime


@dataclass(frozen=True)
class Record:
    """An incident as the draft needs it: its row's facts, its events, alerts and messages."""

    id: str
    title: str
    summary: str
    severity: str
    type: str | None
    status: str
    services: Sequence[str]
    flags: dict[str, Any]
    roles: dict[str, str]
    facts: dict[str, datetime | None]  # impact_started, detected, declared, ... resolved
    acknowledged_by: str | None = None
    events: Sequence[EventOut] = ()
    alerts: Sequence[AlertLine] = ()
    messages: Sequence[MessageLine] = ()

    @property
    def is_drill(self) -> bool:
        return bool(self.flags.get("drill"))


MILESTONES = (
    ("impact_started", "Impact began"),
    ("detected", "Detected"),
    ("declared", "Declared"),
    ("acknowledged", "Acknowledged"),
    ("mitigated", "Mitigated"),
    ("resolved", "Resolved"),
)


@dataclass(frozen=True)
class Section:
    """A section only people can write: its heading, and what the policy or Tocsin asks."""

    title: str
    prompts: list[str] = field(default_factory=list)


# The sections every full review has; a policy's own section of the same meaning replaces one.
STANDARD = (
    Section(
        "Root cause and contributing factors",
        ["What caused the incident, and what made it worse or longer?"],
    ),
    Section("5 Whys", [f"{n}. Why?" for n in range(1, 6)]),
    Section("What went well"),
    Section("What could be improved"),
    Section("Lessons learned"),
)
DRILL_SECTIONS = (
    Section("Outcome", ["Did the drill go as the runbook says? What was exercised?"]),
    Section("Lessons learned"),
)
# A policy section the record already writes (summary, timeline, impact, action items ...).
_WRITTEN = re.compile(r"summary|timeline|impact|action item|follow-up owners|communication")
_SAME = {
    "Root cause and contributing factors": re.compile(r"root cause"),
    "5 Whys": re.compile(r"5.?whys?|five whys"),
    "What went well": re.compile(r"went well"),
    "What could be improved": re.compile(r"could be improved|went poorly|improve"),
    "Lessons learned": re.compile(r"lessons?"),
}


def human_sections(policy: Policy, *, drill: bool) -> list[Section]:
    """The policy's required sections the record cannot write, then the standard ones it
    does not already name (a 5-Whys root cause section covers both)."""
    if drill:
        return list(DRILL_SECTIONS)
    own = [s for s in policy.post_incident.required_sections if not _WRITTEN.search(s.lower())]
    sections = [Section(title, _prompts(title)) for title in own]
    for standard in STANDARD:
        if not any(_SAME[standard.title].search(title.lower()) for title in own):
            sections.append(standard)
    return sections


def _prompts(title: str) -> list[str]:
    if _SAME["5 Whys"].search(title.lower()):
        return [f"{n}. Why?" for n in range(1, 6)]
    return []


def write(record: Record, policy: Policy) -> str:
    """The whole draft, as Markdown."""
    parts = [_title(record)]
    if record.is_drill:
        parts += [_drill_note(), _summary(record, policy), _milestones(record)]
    else:
        parts += [
            _summary(record, policy),
            _impact(record),
            _milestones(record),
            _timeline(record),
            _responders(record, policy),
            _alerts(record),
            _messages(record),
            *_agenda(policy),
        ]
    parts += [_section(s) for s in human_sections(policy, drill=record.is_drill)]
    parts.append(_action_items())
    return "\n\n".join(p.rstrip("\n") for p in parts) + "\n"


def _title(record: Record) -> str:
    what = "Drill review" if record.is_drill else "Post-incident review"
    return f"# {what}: {record.id} — {_cell(record.title)}"


def _drill_note() -> str:
    return "> This was a drill. Its review records the outcome and the lessons only."


def duration(record: Record) -> str:
    start = record.facts.get("impact_started") or record.facts.get("declared")
    end = record.facts.get("resolved")
    if start is None or end is None:
        return "not resolved"
    return span_text((end - start).total_seconds())


def _summary(record: Record, policy: Policy) -> str:
    severity = policy.severity(record.severity)
    lines = [
        "## Summary",
        "",
        record.summary or record.title,
        "",
        f"- Severity: {severity.id} ({severity.name})",
        f"- Type: {record.type or 'not given'}",
        f"- Duration: {duration(record)} (from impact, or declaration, to resolution)",
        f"- Status: {record.status}",
    ]
    return "\n".join(lines)


def _impact(record: Record) -> str:
    services = ", ".join(record.services) or "none recorded"
    customer = "yes" if record.flags.get("customer_facing") else "no"
    lines = ["## Impact", "", f"- Services: {services}", f"- Customer-facing: {customer}"]
    numbers = {
        k: v
        for k, v in record.flags.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    for name, value in sorted(numbers.items()):
        lines.append(f"- {name.replace('_', ' ').capitalize()}: {value}")
    flagged = sorted(k for k, v in record.flags.items() if v is True and k != "customer_facing")
    if flagged:
        lines.append(f"- Flags: {', '.join(flagged)}")
    return "\n".join(lines)


def _milestones(record: Record) -> str:
    lines = [
        "## Key milestones",
        "",
        "| Milestone | When (UTC) | Since declared |",
        "|---|---|---|",
    ]
    declared = record.facts.get("declared")
    for key, name in MILESTONES:
        at = record.facts.get(key)
        since = _since(declared, at)
        lines.append(f"| {name} | {utc_text(at) if at else 'not recorded'} | {since} |")
    return "\n".join(lines)


def _since(start: datetime | None, at: datetime | None) -> str:
    if start is None or at is None:
        return "—"
    seconds = (at - start).total_seconds()
    return ("-" if seconds < 0 else "+") + span_text(seconds)


def _timeline(record: Record) -> str:
    lines = ["## Timeline", "", "| When (UTC) | Event | Who | Details |", "|---|---|---|---|"]
    for event in record.events:
        what = event.kind.replace("_", " ")
        lines.append(
            f"| {utc_text(event.at)} | {what} | {_cell(event.actor)} | {_cell(summarise(event))} |"
        )
    return "\n".join(lines)


def _responders(record: Record, policy: Policy) -> str:
    lines = ["## Responders", ""]
    for role, holder in record.roles.items():
        lines.append(f"- {policy.target_name(role)}: {holder}")
    if record.acknowledged_by:
        lines.append(f"- Acknowledged by: {record.acknowledged_by}")
    actors = sorted(
        {e.actor for e in record.events if e.actor != "tocsin"} - set(record.roles.values())
    )
    if actors:
        lines.append(f"- Also acted: {', '.join(actors)}")
    return "\n".join(lines if len(lines) > 2 else [*lines, "No roles were assigned."])


def _alerts(record: Record) -> str:
    if not record.alerts:
        return "## Alerts\n\nNo alerts were attached."
    lines = ["## Alerts", "", "| First seen (UTC) | Service | Alert | Status | Count |"]
    lines.append("|---|---|---|---|---|")
    for alert in record.alerts:
        lines.append(
            f"| {utc_text(alert.first_seen_at)} | {_cell(alert.service or '—')} | "
            f"{_cell(alert.summary)} | {alert.status} | {alert.count} |"
        )
    return "\n".join(lines)


def _messages(record: Record) -> str:
    if not record.messages:
        return "## Communications sent\n\nNo messages were sent."
    lines = ["## Communications sent", "", "| Queued (UTC) | Kind | To | Subject | Status |"]
    lines.append("|---|---|---|---|---|")
    for message in record.messages:
        to = ", ".join(message.audience) or message.channel
        lines.append(
            f"| {utc_text(message.queued_at)} | {message.kind} | {_cell(to)} | "
            f"{_cell(message.subject)} | {message.status} |"
        )
    return "\n".join(lines)


def _agenda(policy: Policy) -> list[str]:
    agenda = policy.post_incident.agenda
    if not agenda:
        return []
    lines = ["## Review meeting agenda", ""]
    for item in agenda:
        minutes = f" ({item.minutes} min)" if item.minutes else ""
        lines.append(f"- {item.topic}{minutes}")
    return ["\n".join(lines)]


def _section(section: Section) -> str:
    lines = [f"## {section.title}", "", PLACEHOLDER]
    if section.prompts:
        lines += ["", *section.prompts]
    return "\n".join(lines)


def _action_items() -> str:
    return (
        "## Action items\n\nTracked in Tocsin with owners and due dates "
        "(`tocsin actions`); the export lists them."
    )


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")
