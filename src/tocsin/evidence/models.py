"""Signed checkpoints of every timeline, in order; each names the one before it. The
evidence locker's items and legal holds, and the containment switches incidents hold."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db import Base, UTCDateTime


class Checkpoint(Base):
    __tablename__ = "checkpoints"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    previous: Mapped[str | None] = mapped_column(String(64), nullable=True)  # its digest
    root: Mapped[str] = mapped_column(String(64))  # Merkle root over every chain head
    count: Mapped[int] = mapped_column(Integer)  # incidents covered
    # The heads that moved since the previous checkpoint: [[incident_id, seq, hash], ...].
    heads: Mapped[list[list[Any]]] = mapped_column(JSON)
    heads_digest: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the signed payload
    signature: Mapped[str] = mapped_column(Text)


class EvidenceItem(Base):
    """A file, log export, snapshot or link attached to an incident.

    Files are stored by content (tocsin.evidence.storage), so `sha256` names the stored bytes;
    a link's `sha256` is that of its URL. Its addition, every custody step and its purge are
    events on the incident's chain, which carry the hash: the chain, not this row, is the
    record an auditor trusts. `retain_until` comes from the policy's retention class.
    """

    __tablename__ = "evidence_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # file | log_export | snapshot | link
    title: Mapped[str] = mapped_column(String(300))
    note: Mapped[str] = mapped_column(Text, default="")
    filename: Mapped[str | None] = mapped_column(String(255), nullable=True)
    media_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    retention_class: Mapped[str | None] = mapped_column(String(80), nullable=True)
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    added_by: Mapped[str] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index(
            "ix_evidence_items_retain_until",
            "retain_until",
            postgresql_where=text("purged_at IS NULL"),
            sqlite_where=text("purged_at IS NULL"),
        ),
    )


class LegalHold(Base):
    """While a hold is in place (not released), none of the incident's evidence is deleted."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"))
    reason: Mapped[str] = mapped_column(Text)
    placed_by: Mapped[str] = mapped_column(String(200))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index(
            "uq_legal_holds_active",
            "incident_id",
            unique=True,
            postgresql_where=text("released_at IS NULL"),
            sqlite_where=text("released_at IS NULL"),
        ),
    )


class ContainmentSwitch(Base):
    """A policy's containment switch as one incident holds it: on or off, since when, by
    whom and why. Each flip is an event on the incident's chain."""

    __tablename__ = "containment_switches"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"))
    name: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(3))  # on | off
    reason: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(200))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    on_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint("incident_id", "name", name="uq_containment_switches_incident_name"),
        Index("ix_containment_switches_state", "state"),
    )
