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
