"""The status page's tables. Nothing here is private, except the subscribers' addresses and
the links between a public incident and the internal one (never shown on the page)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db import Base, UTCDateTime


class Component(Base):
    """A part of the service customers know (`Checkout`), made of on-call services."""

    __tablename__ = "status_components"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    group_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    services: Mapped[list[str]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # A person's word outranks what incidents say, until they clear it.
    override_status: Mapped[str | None] = mapped_column(String(40), nullable=True)
    override_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    override_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    override_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PublicIncident(Base):
    """A public incident or a scheduled maintenance (Statuspage keeps both as incidents).

    `incident_id` links it to the internal incident it tells customers about; it is never
    shown. `components` maps a component slug to the status this incident gives it.
    """

    __tablename__ = "status_incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # incident | maintenance
    incident_id: Mapped[str | None] = mapped_column(
        ForeignKey("incidents.id"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))
    impact: Mapped[str] = mapped_column(String(20))
    components: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    scheduled_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    auto_complete: Mapped[bool] = mapped_column(Boolean, default=True)
    # The alert silences a maintenance holds on its services while it runs.
    silences: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    monitoring_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_status_incidents_kind_status", "kind", "status"),)


class PublicUpdate(Base):
    """One update on a public incident, as customers read it."""

    __tablename__ = "status_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    status_incident_id: Mapped[int] = mapped_column(ForeignKey("status_incidents.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    # [{code, name, old_status, new_status}] as Statuspage's affected_components.
    affected: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))


class Subscriber(Base):
    """Someone who asked to hear about the page: by email (confirmed by a link first) or by
    webhook. `components` empty means every component. The token is in their links."""

    __tablename__ = "status_subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # email | webhook
    address: Mapped[str] = mapped_column(Text)
    components: Mapped[list[str]] = mapped_column(JSON, default=list)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered: Mapped[int] = mapped_column(Integer, default=0)


class PageState(Base):
    """One row: a number bumped by every change to the page, so a server's cached copy of the
    page knows, with one cheap read, whether it is still current."""

    __tablename__ = "status_page_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
