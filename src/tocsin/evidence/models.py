"""Signed checkpoints of every timeline, in order; each names the one before it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
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
