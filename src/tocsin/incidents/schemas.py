"""The incident API's request and response shapes (kept apart from the ORM models)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tocsin.incidents.lifecycle import allowed_next
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.timesource import Instant


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DeclareIn(Strict):
    title: str = Field(min_length=1, max_length=300)
    severity: str = Field(min_length=1, max_length=40)
    type: str | None = Field(default=None, max_length=80)
    summary: str = Field(default="", max_length=20_000)
    services: list[str] = Field(default_factory=list, max_length=100)
    flags: dict[str, Any] = Field(default_factory=dict)
    impact_started_at: Instant | None = None
    detected_at: Instant | None = None


class AcknowledgeIn(Strict):
    at: Instant | None = None


class StatusIn(Strict):
    status: str
    message: str = Field(min_length=1, max_length=20_000)
    at: Instant | None = None


class SeverityIn(Strict):
    severity: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=1, max_length=20_000)


class RoleIn(Strict):
    role: str = Field(min_length=1, max_length=80)
    assignee: str | None = Field(default=None, max_length=200)


class NoteIn(Strict):
    text: str = Field(min_length=1, max_length=20_000)


Fields = dict[
    Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,40}$")],
    Annotated[str, Field(max_length=5_000)],
]


class UpdateIn(Strict):
    message: str = Field(min_length=1, max_length=20_000)
    audience: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Role, audience or channel ids of the policy; default: the severity's "
        "update audience. Only the update clocks owed to these are met.",
    )
    template: str | None = Field(
        default=None,
        max_length=80,
        description="A template of the policy; default: its update template.",
    )
    fields: Fields = Field(
        default_factory=dict,
        description="Values for the template's `fields.*` (impact, eta, next_steps, ...).",
    )


class SendStageIn(Strict):
    stage: str = Field(min_length=1, max_length=80, description="The stage id, e.g. external.")
    fields: Fields = Field(default_factory=dict)


class PreviewIn(Strict):
    template: str | None = Field(
        default=None, max_length=80, description="A template of the policy; default: built-in."
    )
    builtin: Literal["notice", "update", "reminder", "breach", "prompt"] = "notice"
    message: str = Field(default="", max_length=20_000)
    fields: Fields = Field(default_factory=dict)


class PreviewOut(BaseModel):
    template: str
    subject: str
    body: str


class CommunicationOut(BaseModel):
    """One message about the incident, and what became of it."""

    id: int
    key: str = Field(description="What it belongs to: a stage key, update:N, a clock notice.")
    kind: str = Field(
        description="stage, update, reminder, breach, started, prompt, unreached or page"
    )
    stage: str | None
    audience: list[str]
    recipient: str | None
    channel: str
    address: str = Field(description="Masked.")
    template: str | None
    subject: str
    status: Literal["pending", "sent", "failed", "cancelled"]
    attempts: int
    queued_at: datetime
    sent_at: datetime | None
    error: str | None


class FlagsIn(Strict):
    flags: dict[str, Any] = Field(description="Flags to set; a null value clears the flag.")
    aware_at: Instant | None = Field(
        default=None,
        description="When the organisation became aware (regulatory clocks count "
        "from here). Defaults to now.",
    )


class CompleteClockIn(Strict):
    note: str = Field(min_length=1, max_length=20_000, description="What was done, for the record.")


class ClockOut(BaseModel):
    kind: str
    key: str
    due_at: datetime
    state: str
    action: str
    label: str
    targets: list[str]
    settled_at: datetime | None = None
    warn_at: datetime | None = None


class PolicyRef(BaseModel):
    name: str
    hash: str


class AlertCounts(BaseModel):
    firing: int = 0
    resolved: int = 0


class PageFailureOut(BaseModel):
    """A message about the incident that could not be delivered, even after retries."""

    notification_id: int
    purpose: str = Field(description="page, notify or update")
    person: str | None = Field(description="The person's handle, if the message was for one.")
    method: str | None = Field(
        description="The contact method's name (None if it was removed since)."
    )
    channel: str = Field(description="email, webhook or apprise")
    address: str = Field(description="The address, masked.")
    error: str = Field(description="Why the last attempt failed.")
    attempts: int
    at: datetime = Field(description="When Tocsin gave up on it.")
    fallback: str | None = Field(
        description="What Tocsin did instead (the person's next rule), or None."
    )


class UnreachedOut(BaseModel):
    """A message or page that reached nobody, at least in part, and why."""

    at: datetime
    what: str = Field(description="What was being said, e.g. a stage key or an escalation step.")
    problems: list[str]


class ChangeOut(BaseModel):
    """A change an integration reported (a PagerDuty change event) near the incident."""

    id: int
    at: datetime = Field(description="When it happened (the sender's timestamp, if it gave one).")
    summary: str
    source: str | None
    service: str | None = Field(description="The reporting integration's service.")
    integration: str = Field(description="The integration that reported it.")
    links: list[dict[str, str]] = Field(default_factory=list, description="[{href, text}]")
    custom_details: dict[str, Any] = Field(default_factory=dict)


class IncidentOut(BaseModel):
    id: str
    title: str
    summary: str
    severity: str
    status: str
    type: str | None
    services: list[str]
    flags: dict[str, Any]
    roles: dict[str, str]
    policy: PolicyRef
    declared_by: str
    acknowledged_by: str | None
    impact_started_at: datetime | None
    detected_at: datetime
    declared_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    allowed_next_statuses: list[str]
    clocks: list[ClockOut]
    alerts: AlertCounts = Field(
        description="Alerts attached; list them at /api/v1/alerts?incident=ID"
    )
    page_failures: list[PageFailureOut] = Field(
        default_factory=list,
        description="Pages and other messages about this incident that could not be "
        "delivered, oldest first; empty when every message got through (or is still trying).",
    )
    unreached: list[UnreachedOut] = Field(
        default_factory=list,
        description="Messages and escalation steps that reached nobody (a role nobody holds, "
        "an audience without an address), oldest first; the fallback contact was told.",
    )
    changes: list[ChangeOut] = Field(
        default_factory=list,
        description="Change events (deploys, config pushes) of the incident's services or of "
        "the integrations its alerts came from, from `routing.changes_lookback` before its "
        "impact began until it was resolved; newest first.",
    )

    @classmethod
    def of(
        cls,
        incident: Incident,
        clocks: list[ClockOut],
        alerts: AlertCounts | None = None,
        page_failures: list[PageFailureOut] | None = None,
        unreached: list[UnreachedOut] | None = None,
        changes: list[ChangeOut] | None = None,
    ) -> IncidentOut:
        return cls(
            id=incident.id,
            title=incident.title,
            summary=incident.summary,
            severity=incident.severity,
            status=incident.status,
            type=incident.type,
            services=incident.services,
            flags=incident.flags,
            roles=incident.roles,
            policy=PolicyRef(name=incident.policy_name, hash=incident.policy_hash),
            declared_by=incident.declared_by,
            acknowledged_by=incident.acknowledged_by,
            impact_started_at=incident.impact_started_at,
            detected_at=incident.detected_at,
            declared_at=incident.declared_at,
            acknowledged_at=incident.acknowledged_at,
            mitigated_at=incident.mitigated_at,
            resolved_at=incident.resolved_at,
            closed_at=incident.closed_at,
            allowed_next_statuses=allowed_next(incident.status),
            clocks=clocks,
            alerts=alerts or AlertCounts(),
            page_failures=page_failures or [],
            unreached=unreached or [],
            changes=changes or [],
        )


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None = Field(description="Pass as `cursor` to read the next page.")


class EventOut(BaseModel):
    seq: int
    kind: str
    at: datetime
    actor: str
    data: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, event: TimelineEvent) -> EventOut:
        return cls(
            seq=event.seq,
            kind=event.kind,
            at=event.at,
            actor=event.actor,
            data=event.data,
            prev_hash=event.prev_hash,
            hash=event.hash,
        )
