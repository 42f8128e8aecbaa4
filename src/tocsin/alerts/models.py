"""Integrations (where alerts come from), alerts, their incident groups and silences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.alerts.kinds import KINDS
from tocsin.db import Base, UTCDateTime

INTEGRATION_KINDS = tuple(KINDS)  # the values of Integration.kind


class Integration(Base):
    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    # The key is a credential: only its SHA-256 is stored; the prefix identifies it in lists.
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    service: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The source severity of alerts that carry none (a Grafana rule without a severity
    # label): critical, error, warning or info; None leaves them unknown.
    default_severity: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    # Heartbeats: expect a ping every interval (+ grace); a miss opens an alert.
    heartbeat_interval_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    heartbeat_grace_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_ping_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    heartbeat_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index(
            "ix_integrations_heartbeat_due",
            "heartbeat_due_at",
            postgresql_where=text("heartbeat_due_at IS NOT NULL"),
            sqlite_where=text("heartbeat_due_at IS NOT NULL"),
        ),
    )


class Alert(Base):
    """One alert. At most one *open* (firing) alert per integration and dedup key."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"))
    dedup_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))  # firing | resolved
    summary: Mapped[str] = mapped_column(Text, default="")
    source_severity: Mapped[str | None] = mapped_column(String(20), nullable=True)
    severity: Mapped[str | None] = mapped_column(String(40), nullable=True)
    service: Mapped[str | None] = mapped_column(String(200), nullable=True)
    action: Mapped[str] = mapped_column(String(20))  # page | notify | ticket | ignore
    rule: Mapped[str | None] = mapped_column(String(200), nullable=True)
    suppressed_by: Mapped[int | None] = mapped_column(Integer, nullable=True)  # silence id
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    group_key: Mapped[str | None] = mapped_column(String(500), nullable=True)
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    incident_id: Mapped[str | None] = mapped_column(
        ForeignKey("incidents.id"), nullable=True, index=True
    )

    __table_args__ = (
        # The database, not the code, guarantees one open alert per key: concurrent
        # deliveries of the same alert upsert into the same row.
        Index(
            "uq_alerts_open_dedup",
            "integration_id",
            "dedup_key",
            unique=True,
            postgresql_where=text("status = 'firing'"),
            sqlite_where=text("status = 'firing'"),
        ),
        Index("ix_alerts_status_id", "status", "id"),  # listing: filter by status, page by id
    )


class AlertGroup(Base):
    """Alerts sharing a group key within the policy's window join one incident."""

    __tablename__ = "alert_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_key: Mapped[str] = mapped_column(String(500), index=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_alert_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OpsgenieRequest(Base):
    """What one Opsgenie Alert API request did, for `GET /v2/alerts/requests/{requestId}`.

    In the database, not in a process, so any instance behind a load balancer answers a poll
    for a request another one took. Kept for a week (alerts.opsgenie_requests.RETENTION)."""

    __tablename__ = "opsgenie_requests"

    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"))
    action: Mapped[str] = mapped_column(String(40))
    success: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(200))
    alert_id: Mapped[str] = mapped_column(String(20))
    alias: Mapped[str] = mapped_column(String(512))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ChangeEvent(Base):
    """A change an integration reported (PagerDuty's change events: a deploy, a config push).
    It pages nobody; incidents of its service or integration that it may explain show it."""

    __tablename__ = "change_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id"))
    service: Mapped[str | None] = mapped_column(String(200), nullable=True)
    summary: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # When it happened: the sender's timestamp, else when Tocsin received it.
    happened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    custom_details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    links: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)

    __table_args__ = (
        Index("ix_change_events_integration_happened", "integration_id", "happened_at"),
        Index("ix_change_events_service_happened", "service", "happened_at"),
    )


class Silence(Base):
    """A maintenance window or silence: matching alerts are kept but do not page."""

    __tablename__ = "silences"

    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str | None] = mapped_column(String(200), nullable=True)
    matchers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))  # maintenance | silence
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
