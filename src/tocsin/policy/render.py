"""A policy as the runbook a team publishes, and the clocks `tocsin policy explain` shows.

`render_markdown` writes every section the policy holds, most severe severity first, with
durations in words. A value the source runbook leaves unknown is shown as
"— (not set in runbook)", never guessed; a target the runbook marks "n/a" shows as "n/a".
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime

import yaml
from pydantic import BaseModel

from tocsin.policy.deadlines import (
    PlannedClock,
    after,
    names,
    plan_incident_clocks,
    plan_review_clock,
    within,
)
from tocsin.policy.durations import Duration
from tocsin.policy.loader import LoadedPolicy
from tocsin.policy.schema import (
    Channel,
    CommunicationStage,
    Phase,
    Policy,
    Role,
    Severity,
    Step,
    Template,
)

__all__ = ["UNSET", "explain_rows", "render_markdown"]

UNSET = "— (not set in runbook)"
NOT_APPLICABLE = "n/a"

Lines = Iterator[str]


def render_markdown(loaded: LoadedPolicy) -> str:
    """The whole policy as Markdown, section by section."""
    policy = loaded.policy
    not_applicable = _explicit_not_applicable(loaded.text)
    sections: list[Callable[[], Lines]] = [
        lambda: _header(loaded),
        lambda: _ladder(policy, not_applicable),
        lambda: _severity_details(policy, not_applicable),
        lambda: _escalation(policy),
        lambda: _communication(policy),
        lambda: _roles(policy),
        lambda: _contacts(policy),
        lambda: _flags(policy),
        lambda: _incident_types(policy),
        lambda: _phases(policy),
        lambda: _templates(policy),
        lambda: _post_incident(policy),
        lambda: _regulatory(policy),
        lambda: _evidence(policy),
        lambda: _drills(policy),
        lambda: _alert_routing(policy),
        lambda: _on_call(policy),
        lambda: _tools(policy),
        lambda: _guidance(policy),
        lambda: _document(policy),
        lambda: _completions(policy),
    ]
    return "\n".join(line for section in sections for line in section()).rstrip() + "\n"


def explain_rows(policy: Policy, severity_id: str, at: datetime) -> list[PlannedClock]:
    """The clocks an incident declared at `at` would get, plus its review.

    The review is counted as if the incident were resolved exactly at its resolve deadline
    (or at `at` when the severity has none), and its label says so.
    """
    clocks = plan_incident_clocks(policy, severity_id, at)
    resolve = next((clock for clock in clocks if clock.kind == "resolve"), None)
    resolved_at = resolve.due_at if resolve is not None else at
    review = plan_review_clock(policy, severity_id, resolved_at)
    if review is not None:
        assumption = "at the resolve deadline" if resolve is not None else "at declaration"
        label = f"{review.label} (if resolved {assumption}, {resolved_at:%Y-%m-%d %H:%M} UTC)"
        clocks.append(dataclasses.replace(review, label=label))
    return clocks


# -- helpers ----------------------------------------------------------------------------------


def _explicit_not_applicable(text: str) -> set[tuple[str, str]]:
    """(severity id, field) pairs the author wrote as "n/a" rather than leaving unset."""
    document = yaml.safe_load(text)
    found: set[tuple[str, str]] = set()
    for severity in document.get("severities") or []:
        for key, value in severity.items():
            if isinstance(value, str) and value.strip().lower() in ("n/a", "na", "none", "-"):
                found.add((str(severity.get("id")), key))
    return found


def _or_unset(value: object) -> str:
    return UNSET if value is None else str(value)


def _given(model: BaseModel, name: str) -> str:
    """A field's text; None is "not set" only if the author wrote it as null.

    A policy writes `phone: null` where the runbook names a phone number it does not give
    ("+1-XXX-XXX-XXXX"); a contact the runbook gives no phone for has no `phone` key at all.
    """
    value = getattr(model, name)
    if value is None:
        return UNSET if name in model.model_fields_set else ""
    return str(value)


def _cell(value: object) -> str:
    return _or_unset(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: Iterable[Sequence[object]]) -> Lines:
    yield "| " + " | ".join(header) + " |"
    yield "|" + "|".join("---" for _ in header) + "|"
    for row in rows:
        yield "| " + " | ".join(_cell(value) for value in row) + " |"
    yield ""


def _bullets(items: Iterable[str]) -> Lines:
    yield from (f"- {item}" for item in items)


def _checklist(items: Iterable[str]) -> Lines:
    yield from (f"- [ ] {item}" for item in items)


def _heading(level: int, text: str) -> Lines:
    yield f"{'#' * level} {text}"
    yield ""


def _target(severity: Severity, field: str, not_applicable: set[tuple[str, str]]) -> str:
    duration: Duration | None = getattr(severity, field)
    if duration is not None:
        return within(duration)
    return NOT_APPLICABLE if (severity.id, field) in not_applicable else UNSET


def _who(policy: Policy, targets: list[str]) -> str:
    return names(policy, targets) if targets else UNSET


# -- sections ---------------------------------------------------------------------------------


def _header(loaded: LoadedPolicy) -> Lines:
    policy = loaded.policy
    yield from _heading(1, policy.title)
    yield f"- Policy: `{policy.name}`" + (f", version {policy.version}" if policy.version else "")
    yield f"- Source: `{loaded.source}`"
    yield f"- SHA-256: `{loaded.hash}`"
    yield f"- Time zone: {policy.timezone}; business hours {_business_hours(policy)}"
    holidays = policy.holidays
    region = "-".join(part for part in (holidays.country, holidays.subdiv) if part) or "none"
    yield f"- Public holidays: {region}" + (f" ({holidays.note})" if holidays.note else "")
    yield ""
    if policy.description:
        yield policy.description
        yield ""


def _business_hours(policy: Policy) -> str:
    hours = policy.business_hours
    days = ", ".join(day.capitalize() for day in hours.days)
    return f"{hours.start:%H:%M}-{hours.end:%H:%M} ({days})"


def _ladder(policy: Policy, not_applicable: set[tuple[str, str]]) -> Lines:
    yield from _heading(2, "Severity ladder")
    yield "Most severe first."
    yield ""
    header = ["Severity", "Name", "Respond", "Resolve", "Updates", "Pages on-call"]
    rows = [
        [
            severity.id,
            severity.name + (f" ({severity.tagline})" if severity.tagline else ""),
            _target(severity, "respond_within", not_applicable),
            _target(severity, "resolve_within", not_applicable),
            _updates(severity, not_applicable),
            "yes" if severity.pages else "no",
        ]
        for severity in policy.severities
    ]
    yield from _table(header, rows)


def _updates(severity: Severity, not_applicable: set[tuple[str, str]]) -> str:
    if severity.update_every is None:
        return _target(severity, "update_every", not_applicable)
    return f"every {severity.update_every.describe()}"


def _severity_details(policy: Policy, not_applicable: set[tuple[str, str]]) -> Lines:
    for severity in policy.severities:
        title = f"{severity.id} — {severity.name}"
        yield from _heading(3, title + (f" ({severity.tagline})" if severity.tagline else ""))
        if severity.description:
            yield severity.description
            yield ""
        yield from _listed("Criteria", severity.criteria)
        yield from _listed("Examples", severity.examples)
        yield f"- Respond: {_target(severity, 'respond_within', not_applicable)}"
        yield f"- Resolve: {_target(severity, 'resolve_within', not_applicable)}"
        yield f"- Updates: {_update_line(policy, severity, not_applicable)}"
        yield f"- Status page: {_or_unset(severity.status_page)}"
        yield f"- Post-incident review: {_review_line(policy, severity)}"
        yield from _bullets(f"Note: {note}" for note in severity.notes)
        yield ""


def _listed(title: str, items: list[str]) -> Lines:
    yield f"**{title}:**" if items else f"**{title}:** {UNSET}"
    yield from _bullets(items)
    yield ""


def _update_line(policy: Policy, severity: Severity, not_applicable: set[tuple[str, str]]) -> str:
    text = _updates(severity, not_applicable)
    if severity.update_audience:
        joiner = " to " if severity.update_every else "; audience: "
        text += joiner + names(policy, severity.update_audience)
    if severity.update_channel:
        text += f" via {severity.update_channel}"
    return text + (f" ({severity.update_notes})" if severity.update_notes else "")


def _review_line(policy: Policy, severity: Severity) -> str:
    required, window = policy.review_rule(severity.id)
    if not required:
        return "not required"
    return f"required {within(window)} of resolution" if window else f"required, {UNSET}"


def _escalation(policy: Policy) -> Lines:
    yield from _heading(2, "Escalation matrix")
    for severity in policy.severities:
        yield from _heading(3, f"{severity.id} — {severity.name}")
        if severity.escalation_note:
            yield f"Escalation: {severity.escalation_note}"
            yield ""
        if not severity.escalation:
            yield f"No timed escalation steps {UNSET}."
            yield ""
            continue
        rows = [
            [
                after(step.after).capitalize(),
                f"if {step.when}",
                _who(policy, step.notify),
                step.note or "",
            ]
            for step in severity.escalation
        ]
        yield from _table(["When", "Condition", "Notify", "Note"], rows)
    yield from _chain(policy)


def _chain(policy: Policy) -> Lines:
    if policy.escalation_chain:
        yield from _heading(3, "Escalation chain")
        chain = policy.escalation_chain
        for number, (lower, upper) in enumerate(itertools.pairwise(chain), 1):
            yield f"{number}. {policy.target_name(lower)} → {policy.target_name(upper)}"
        yield ""
    if policy.escalation_triggers:
        yield from _heading(3, "Escalation triggers")
        yield from _bullets(policy.escalation_triggers)
        yield ""


def _communication(policy: Policy) -> Lines:
    yield from _heading(2, "Communication tree")
    for severity in policy.severities:
        if not severity.communication:
            continue
        yield from _heading(3, f"{severity.id} — {severity.name}")
        rows = [_stage_row(policy, stage) for stage in severity.communication]
        yield from _table(["Stage", "Window", "Due", "Notify", "Channels", "Actions"], rows)
    if policy.channels:
        yield from _heading(3, "Coordination channels")
        yield from _table(
            ["Channel", "Address", "Purpose", "Participants", "Updates"],
            [_channel_row(channel) for channel in policy.channels],
        )


def _stage_row(policy: Policy, stage: CommunicationStage) -> list[str]:
    audience = [
        policy.target_name(target) + _condition_text(policy, stage, target)
        for target in stage.audience
    ]
    how = [
        f"opens {after(stage.opens_after)}" if stage.opens_after else "",
        "prompts the communications lead" if stage.mode == "prompt" else "",
        f"template `{stage.template}`" if stage.template else "",
        "after resolution" if stage.starts_from == "resolved" else "",
        "owed after resolution" if stage.owed_after_resolution else "",
    ]
    parts = ("; ".join(stage.actions), stage.note, "; ".join(h for h in how if h))
    actions = " — ".join(part for part in parts if part)
    return [
        stage.name or stage.stage,
        stage.window or "",
        within(stage.within),
        ", ".join(audience),
        ", ".join(stage.channels),
        actions,
    ]


def _condition_text(policy: Policy, stage: CommunicationStage, target: str) -> str:
    written = stage.conditions.get(target)
    if written is None:
        return ""
    if isinstance(written, str):
        return f" ({written})"
    condition = policy.condition(stage, target)
    named = [*(condition.flags if condition else []), *(condition.types if condition else [])]
    return f" ({written.note or 'if ' + ' or '.join(named)})"


def _channel_row(channel: Channel) -> list[str]:
    cadence = "; ".join(
        f"{severity}: {'every ' + every.describe() if every else NOT_APPLICABLE}"
        for severity, every in channel.update_every.items()
    )
    purpose = "; ".join(part for part in (channel.purpose, channel.note) if part)
    return [channel.name, channel.address or "", purpose, channel.participants or "", cadence]


def _roles(policy: Policy) -> Lines:
    yield from _heading(2, "Roles and duties")
    for role in policy.roles:
        yield from _heading(3, role.name)
        yield from _role_lines(role)
        yield ""


def _role_lines(role: Role) -> Lines:
    yield f"- Id: `{role.id}`"
    for label, name in (("Primary", "primary"), ("Backup", "backup")):
        if text := _given(role, name):
            yield f"- {label}: {text}"
    if role.members:
        yield f"- Members: {', '.join(role.members)}"
    if role.note:
        yield f"- Note: {role.note}"
    if role.duties:
        yield "- Duties:"
        yield from (f"  - {duty}" for duty in role.duties)


def _contacts(policy: Policy) -> Lines:
    yield from _heading(2, "Contacts")
    rows = [
        [
            audience.name,
            *(_given(audience, name) for name in ("person", "email", "phone")),
            audience.chat or _given(audience, "url"),
            policy.target_name(audience.role) if audience.role else "",
            audience.note or "",
        ]
        for audience in policy.audiences
    ]
    yield from _table(["Contact", "Person", "Email", "Phone", "Chat / URL", "Role", "Note"], rows)


def _evidence(policy: Policy) -> Lines:
    evidence = policy.evidence
    if not evidence.retention:
        return
    yield from _heading(2, "Evidence retention")
    yield from _bullets(
        f"`{kept.id}` — {kept.name}: kept {kept.keep.describe()} from when it is added"
        + (" (the default class)" if kept.id == evidence.default_class else "")
        for kept in evidence.retention
    )
    yield "- A legal hold on an incident stops every deletion of its evidence."
    yield ""


def _flags(policy: Policy) -> Lines:
    if policy.flags:
        yield from _heading(2, "Incident flags")
        yield from _bullets(
            f"`{flag.id}` — {flag.name}. {flag.description}".rstrip() for flag in policy.flags
        )
        yield ""
    if policy.containment_flags:
        yield from _heading(2, "Containment flags")
        for flag in policy.containment_flags:
            yield f"- `{flag.id}`: {flag.description}"
            yield f"  - Flip when: {flag.when}"
            yield f"  - Release: {_or_unset(flag.release)}"
            if flag.watch is not None:
                yield f"  - Monitor after release for {flag.watch.describe()}"
            if flag.limit is not None:
                yield f"  - Remind the commander if on longer than {flag.limit.describe()}"
            how = f"webhook (HMAC-SHA256) to {flag.webhook.url}" if flag.webhook else "by hand"
            yield f"  - Flipped: {how}"
        yield ""


def _incident_types(policy: Policy) -> Lines:
    if not policy.incident_types:
        return
    yield from _heading(2, "Incident types")
    for incident_type in policy.incident_types:
        yield from _heading(3, incident_type.name)
        if incident_type.description:
            yield incident_type.description
            yield ""
        yield from _listed("Examples", incident_type.examples) if incident_type.examples else ()
        for phase_id, items in incident_type.checklists.items():
            yield f"**Checklist ({_phase_name(policy, phase_id)}):**"
            yield from _checklist(items)
            yield ""
        for link in incident_type.runbooks:
            yield f"- Runbook: {link.title}" + (f" (`{link.url}`)" if link.url else "")
        if incident_type.runbooks:
            yield ""


def _phase_name(policy: Policy, phase_id: str) -> str:
    return next((phase.name for phase in policy.phases if phase.id == phase_id), phase_id)


def _phases(policy: Policy) -> Lines:
    if not policy.phases:
        return
    yield from _heading(2, "Response phases")
    for phase in policy.phases:
        yield from _heading(3, phase.name + _phase_timing(phase))
        yield from _checklist(phase.checklist)
        for step in phase.steps:
            yield from _step(step)
        if phase.note:
            yield f"\n{phase.note}"
        yield ""


def _phase_timing(phase: Phase) -> str:
    parts = [
        part for part in (phase.target, within(phase.within) if phase.within else None) if part
    ]
    return f" ({'; '.join(parts)})" if parts else ""


def _step(step: Step) -> Lines:
    yield f"- {step.name}" + (f" ({step.target})" if step.target else "")
    yield from (f"  - [ ] {item}" for item in step.checklist)


def _templates(policy: Policy) -> Lines:
    if not policy.templates:
        return
    yield from _heading(2, "Communication templates")
    for template in policy.templates:
        yield from _template(policy, template)


def _template(policy: Policy, template: Template) -> Lines:
    yield from _heading(3, template.name)
    facts = [
        ("Audience", names(policy, template.audience) if template.audience else None),
        ("Channel", template.channel),
        ("Severities", ", ".join(template.when) or None),
        ("Incident types", ", ".join(template.types) or None),
        ("Subject", template.subject),
        ("Placeholders", ", ".join(f"`{name}`" for name in template.placeholders()) or None),
    ]
    yield from _bullets(f"{label}: {value}" for label, value in facts if value)
    yield ""
    yield "~~~~" + ("markdown" if template.format == "markdown" else "text")
    yield template.body.rstrip("\n")
    yield "~~~~"
    yield ""


def _post_incident(policy: Policy) -> Lines:
    rules = policy.post_incident
    yield from _heading(2, "Post-incident review")
    required = ", ".join(rules.required_for) if rules.required_for is not None else "every severity"
    window = within(rules.review_within) if rules.review_within else UNSET
    yield f"- Due: {window} of resolution"
    yield f"- Required for: {required}"
    blameless = None if rules.blameless is None else ("yes" if rules.blameless else "no")
    yield f"- Blameless: {_or_unset(blameless)}"
    if rules.meeting_length:
        yield f"- Meeting length: {rules.meeting_length}"
    if rules.participants:
        yield f"- Participants: {rules.participants}"
    yield ""
    yield from _listed("Required sections", rules.required_sections)
    if rules.agenda:
        yield from _table(
            ["Agenda item", "Minutes"],
            [[item.topic, str(item.minutes or "")] for item in rules.agenda],
        )
    if rules.activities:
        yield "**Activities:**"
        for activity in rules.activities:
            yield from _step(activity)
        yield ""
    yield from _action_items(policy)
    for title, items in (("Documentation", rules.documentation), ("Notes", rules.notes)):
        if items:
            yield from _listed(title, items)


def _action_items(policy: Policy) -> Lines:
    classes = policy.post_incident.action_item_classes
    if classes:
        yield from _heading(3, "Action item classes")
        yield from _table(
            ["Class", "Due", "Description"],
            [[item.name, within(item.within), item.description or ""] for item in classes],
        )


def _regulatory(policy: Policy) -> Lines:
    yield from _heading(2, "Regulatory and legal deadlines")
    if not policy.regulatory:
        yield f"None in this runbook ({UNSET})."
        yield ""
        return
    rows = [
        [
            regime.name,
            within(regime.within) if regime.within else UNSET,
            f"from {regime.from_}",
            _trigger(regime.trigger.flags, regime.trigger.types, regime.trigger.severities),
            _who(policy, regime.notify) if "notify" in regime.model_fields_set else "",
            regime.note or "",
        ]
        for regime in policy.regulatory
    ]
    yield from _table(["Regime", "Deadline", "Counted", "Applies when", "Notify", "Note"], rows)


def _trigger(flags: list[str], types: list[str], severities: list[str]) -> str:
    parts = []
    if flags:
        parts.append("flag " + " or ".join(f"`{flag}`" for flag in flags))
    if types:
        parts.append("type " + " or ".join(types))
    if severities:
        parts.append("severity " + " or ".join(severities))
    return " and ".join(parts)


def _alert_routing(policy: Policy) -> Lines:
    if not policy.routing.rules:
        return
    yield from _heading(2, "Alert routing")
    rows = [
        [
            rule.name or f"rule {index + 1}",
            ", ".join(f"{k} = {v}" for k, v in rule.match.items()) or "any alert",
            rule.action,
            rule.severity or "",
            names(policy, rule.notify) if rule.notify else "",
        ]
        for index, rule in enumerate(policy.routing.rules)
    ]
    yield from _table(["Rule", "Matches", "Action", "Severity", "Also tells"], rows)
    if policy.routing.default_rules:
        yield "Alerts no rule matches follow Tocsin's defaults: critical and error page, "
        yield "warning notifies, info makes a ticket."
        yield ""


def _owner_name(policy: Policy, owner: str | None) -> str:
    """A drill's owner as people read it: a role or audience by name, else the reference."""
    return policy.target_name(owner) if owner else ""


def _drills(policy: Policy) -> Lines:
    if policy.drills:
        yield from _heading(2, "Drills and exercises")
        rows = [
            [
                drill.kind.replace("_", " "),
                drill.cadence,
                drill.severity or "",
                drill.scope,
                drill.participants or "",
                _owner_name(policy, drill.owner),
                drill.note or "",
            ]
            for drill in policy.drills
        ]
        header = ["Kind", "Cadence", "Severity", "Scope", "Participants", "Owner", "Note"]
        yield from _table(header, rows)
        told = [
            f"{d.id}: {policy.target_name(a)}"
            for d in policy.drills
            if (a := policy.drill_audience_for(d)) is not None
        ]
        if told:
            yield "A drill's pages and messages go only to its drill audience:"
            yield ""
            yield from _bullets(told)
            yield ""
    if policy.training:
        yield from _heading(2, "Training")
        rows = [
            [item.who, item.cadence or (within(item.within) if item.within else ""), item.scope]
            for item in policy.training
        ]
        yield from _table(["Who", "When", "Scope"], rows)


def _on_call(policy: Policy) -> Lines:
    on_call = policy.on_call
    if on_call == type(on_call)():
        return
    yield from _heading(2, "On-call")
    yield f"- Rotation: {_or_unset(on_call.rotation)}"
    yield f"- Layers: {_or_unset(', '.join(on_call.layers) or None)}"
    yield f"- Schedule tool: {_or_unset(on_call.tool)}"
    yield f"- Handoff: {_or_unset(on_call.handoff)}"
    respond = within(on_call.respond_within) if on_call.respond_within else None
    yield f"- Respond to pages: {_or_unset(respond)}"
    yield from _bullets(on_call.duties)
    yield ""


def _tools(policy: Policy) -> Lines:
    if policy.tools:
        yield from _heading(2, "Tools and resources")
        yield from _table(
            ["Purpose", "Tool", "Note"],
            [[tool.purpose, _given(tool, "name"), tool.note or ""] for tool in policy.tools],
        )


def _guidance(policy: Policy) -> Lines:
    for section in policy.guidance:
        yield from _heading(2, section.title)
        yield from _bullets(section.items)
        yield ""


def _document(policy: Policy) -> Lines:
    document = policy.document
    yield from _heading(2, "About this runbook")
    yield f"- Owner: {_or_unset(document.owner)}"
    for label, value in (
        ("Status", document.status),
        ("Classification", document.classification),
        ("Last updated", document.last_updated),
        ("Review schedule", document.review_schedule),
        ("Next review", document.next_review),
    ):
        if value is not None:
            yield f"- {label}: {value}"
    for link in document.references:
        yield f"- Reference: {link.title}" + (f" (`{link.url}`)" if link.url else "")
    yield from _bullets(document.notes)
    yield ""
    if document.history:
        yield from _table(
            ["Version", "Date", "Changes", "Author"],
            [
                [rev.version, str(rev.date or ""), rev.changes or "", rev.author or ""]
                for rev in document.history
            ],
        )


def _completions(policy: Policy) -> Lines:
    yield from _heading(2, "Completions")
    if not policy.completions:
        yield "None: every value above comes from the source runbook."
        yield ""
        return
    yield "Values this policy fills in beyond the source runbook; review them before use:"
    yield ""
    yield from _bullets(policy.completions)
    yield ""
