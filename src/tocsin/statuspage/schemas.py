"""The status page admin API's request and response shapes (kept apart from the ORM models).
The public JSON is `shapes` (Statuspage's), not these."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tocsin.notify.channels import mask_address
from tocsin.notify.models import Notification
from tocsin.statuspage.models import Component, PublicIncident, PublicUpdate, Subscriber
from tocsin.timesource import Instant

Effect = dict[str, str]
EFFECT_HELP = (
    "component id -> the status this incident gives it: operational, under_maintenance, "
    "degraded_performance, partial_outage or major_outage"
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ComponentIn(Strict):
    slug: str = Field(min_length=1, max_length=80, description="lowercase id, e.g. checkout")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2_000)
    group: str | None = Field(default=None, max_length=200)
    services: list[str] = Field(default_factory=list, max_length=100)
    position: int | None = Field(default=None, ge=0, le=10_000)


class ComponentChange(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2_000)
    group: str | None = Field(default=None, max_length=200)
    services: list[str] | None = Field(default=None, max_length=100)
    position: int | None = Field(default=None, ge=0, le=10_000)


class OverrideIn(Strict):
    status: str = Field(description="the component status to show until cleared")
    note: str | None = Field(default=None, max_length=2_000)


class PublishIn(Strict):
    title: str | None = Field(
        default=None,
        min_length=1,
        max_length=300,
        description="the public title (required the first time; the internal one is never shown)",
    )
    status: str = Field(description="investigating, identified, monitoring or resolved")
    message: str = Field(min_length=1, max_length=20_000)
    components: Effect | None = Field(default=None, description=EFFECT_HELP)


class PublicIncidentIn(Strict):
    title: str = Field(min_length=1, max_length=300)
    status: str = Field(description="investigating, identified, monitoring or resolved")
    message: str = Field(min_length=1, max_length=20_000)
    components: Effect = Field(default_factory=dict, description=EFFECT_HELP)


class PublicUpdateIn(Strict):
    status: str = Field(
        description="an incident: investigating, identified, monitoring, resolved; "
        "a maintenance: scheduled, in_progress, verifying, completed"
    )
    message: str = Field(min_length=1, max_length=20_000)
    components: Effect | None = Field(default=None, description=EFFECT_HELP)


class MaintenanceIn(Strict):
    title: str = Field(min_length=1, max_length=300)
    message: str = Field(min_length=1, max_length=20_000)
    scheduled_for: Instant
    scheduled_until: Instant
    components: list[str] = Field(default_factory=list, max_length=200)
    auto_complete: bool = Field(default=True, description="complete at scheduled_until")


class SubscriberIn(Strict):
    kind: str = Field(description="email (confirmed by a link sent to it) or webhook")
    address: str = Field(min_length=3, max_length=2_000)
    components: list[str] = Field(default_factory=list, max_length=200)


class OverrideOut(BaseModel):
    status: str
    note: str | None
    by: str | None
    at: datetime | None


class ComponentOut(BaseModel):
    slug: str
    name: str
    description: str
    group: str | None
    services: list[str]
    position: int
    status: str
    override: OverrideOut | None

    @classmethod
    def of(cls, row: Component, status: str) -> ComponentOut:
        override = None
        if row.override_status is not None:
            override = OverrideOut(
                status=row.override_status,
                note=row.override_note,
                by=row.override_by,
                at=row.override_at,
            )
        return cls(
            slug=row.slug,
            name=row.name,
            description=row.description,
            group=row.group_name,
            services=list(row.services),
            position=row.position,
            status=status,
            override=override,
        )


class PublicUpdateOut(BaseModel):
    id: int
    status: str
    body: str
    affected_components: list[dict[str, str]]
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, row: PublicUpdate) -> PublicUpdateOut:
        return cls(
            id=row.id,
            status=row.status,
            body=row.body,
            affected_components=list(row.affected),
            created_at=row.created_at,
            created_by=row.created_by,
        )


class PublicIncidentOut(BaseModel):
    id: str
    kind: str
    incident_id: str | None
    name: str
    status: str
    impact: str
    components: Effect
    scheduled_for: datetime | None
    scheduled_until: datetime | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    url: str
    updates: list[PublicUpdateOut]
    notified: int | None = Field(default=None, description="subscribers this write queued for")

    @classmethod
    def of(
        cls,
        row: PublicIncident,
        updates: list[PublicUpdate],
        base_url: str,
        notified: int | None = None,
    ) -> PublicIncidentOut:
        return cls(
            id=row.code,
            kind=row.kind,
            incident_id=row.incident_id,
            name=row.name,
            status=row.status,
            impact=row.impact,
            components=dict(row.components),
            scheduled_for=row.scheduled_for,
            scheduled_until=row.scheduled_until,
            created_at=row.created_at,
            updated_at=row.updated_at,
            resolved_at=row.resolved_at,
            url=f"{base_url}/status/incidents/{row.code}",
            updates=[PublicUpdateOut.of(u) for u in updates],
            notified=notified,
        )


class SubscriberOut(BaseModel):
    id: int
    kind: str
    address: str
    components: list[str]
    confirmed: bool
    unsubscribed: bool
    created_at: datetime
    delivered: int
    last_error: str | None
    last_error_at: datetime | None

    @classmethod
    def of(cls, row: Subscriber) -> SubscriberOut:
        return cls(
            id=row.id,
            kind=row.kind,
            address=mask_address(row.address),
            components=list(row.components),
            confirmed=row.confirmed_at is not None,
            unsubscribed=row.unsubscribed_at is not None,
            created_at=row.created_at,
            delivered=row.delivered,
            last_error=row.last_error,
            last_error_at=row.last_error_at,
        )


class DeliveryOut(BaseModel):
    id: int
    subscriber: int | None
    channel: str
    address: str
    subject: str
    attempts: int
    error: str | None
    queued_at: datetime

    @classmethod
    def of(cls, row: Notification) -> DeliveryOut:
        subscriber = row.data.get("subscriber")
        return cls(
            id=row.id,
            subscriber=int(subscriber) if subscriber is not None else None,
            channel=row.channel,
            address=mask_address(row.address),
            subject=row.subject,
            attempts=row.attempts,
            error=row.last_error,
            queued_at=row.created_at,
        )
