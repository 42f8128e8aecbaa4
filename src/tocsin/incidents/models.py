"""Incidents, their daily id counters and the hash-chained timeline."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db import Base, CanonicalJSON, UTCDateTime


class IncidentCounter(Base):
    """The last sequence number handed out on a UTC day, for ids like INC-2026-11-22-07."""

    __tablename__ = "incident_counters"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)


class Incident(Base):
    __tablename__ = "incidents"

    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str] = mapped_column(String(40))
    type: Mapped[str | None] = mapped_column(String(80), nullable=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    flags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    roles: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    policy_name: Mapped[str] = mapped_column(String(200))
    policy_hash: Mapped[str] = mapped_column(String(64))
    declared_by: Mapped[str] = mapped_column(String(200))

    impact_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    mitigated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    # The head of the timeline chain, so appending never has to search for the last event.
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_event_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_incidents_severity_status", "severity", "status"),)


class TimelineEvent(Base):
    """One append-only entry. `hash` = SHA-256(prev_hash + canonical JSON of the entry)."""

    __tablename__ = "timeline_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(CanonicalJSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # The digest of the incident row once this event's change was made (chain.state_digest).
    state_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (UniqueConstraint("incident_id", "seq", name="uq_timeline_incident_seq"),)


class Clock(Base):
    """A deadline, about a subject: an incident today; a review, an action item, a notice,
    a drill or a maintenance window as those domains arrive (tocsin.policy.clock_kinds says
    which kind belongs to which subject). `incident_id` is set when the clock is part of an
    incident's record: its settlement is an event on that incident's timeline.

    `next_check_at` is when the engine must next look at it: the warning time until the
    warning is recorded, then the due time. Only pending clocks are indexed, so a tick costs
    what is due, not what exists.
    """

    __tablename__ = "clocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[str | None] = mapped_column(
        ForeignKey("incidents.id"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(300))
    targets: Mapped[list[str]] = mapped_column(JSON, default=list)
    stop_on: Mapped[str | None] = mapped_column(String(40), nullable=True)
    state: Mapped[str] = mapped_column(String(20))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_check_at: Mapped[datetime] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index(
            "ix_clocks_pending_next_check",
            "next_check_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        # At most one live clock per key and subject: "update" re-arms by settling the old one
        # first.
        Index(
            "uq_clocks_pending_key",
            "subject_type",
            "subject_id",
            "key",
            unique=True,
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        # Metrics: a period's clocks by kind and state (index-only), and breached by kind.
        Index("ix_clocks_incident_kind_state", "incident_id", "kind", "state"),
        Index("ix_clocks_state_kind", "state", "kind"),
    )
