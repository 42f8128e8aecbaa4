"""The drills that were held (one row per drill incident, with its outcome and lessons) and
the reviews of the runbook itself.

What is due is not a row here: each entry of the policy's drill programme is a clock
(subject `drill`, tocsin.reviews.drills), armed from the last drill held.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db import Base, UTCDateTime


class Drill(Base):
    __tablename__ = "drills"

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[str] = mapped_column(String(80), index=True)  # policy drills[].id
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(300))
    severity: Mapped[str] = mapped_column(String(40))
    audience: Mapped[str | None] = mapped_column(String(80), nullable=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_by: Mapped[str] = mapped_column(String(200))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    lessons: Mapped[str] = mapped_column(Text, default="")


class RunbookReview(Base):
    """A review of the runbook itself (`tocsin drill runbook-reviewed`)."""

    __tablename__ = "runbook_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_name: Mapped[str] = mapped_column(String(200), index=True)
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
