"""Every policy text an incident was ever declared under, kept by its hash.

An incident runs under the policy it was declared with, even after the server is restarted
with a newer one, and an auditor can read the exact text back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db import Base, UTCDateTime


class PolicySnapshot(Base):
    __tablename__ = "policy_snapshots"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
