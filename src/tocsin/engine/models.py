"""What each running engine says of itself, so any node (and an operator) can see that the
engine is alive, how far along it is, and whether it has paused for a schema mismatch."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db import Base, UTCDateTime


class EngineInstance(Base):
    __tablename__ = "engine_instances"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_pass_at: Mapped[datetime] = mapped_column(UTCDateTime)
    passes: Mapped[int] = mapped_column(Integer, default=0)
    paused: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it processes nothing


class EngineLease(Base):
    """Who may run the engine now: one row per deployment, renewed by its holder while it is
    alive, taken over by another engine once `expires_at` has passed (see engine/lease.py)."""

    __tablename__ = "engine_lease"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(32))  # the holder's engine_instances.id
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
