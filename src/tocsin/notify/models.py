"""The outbox: every message Tocsin sends is a row here first.

pending -> sending (leased until `lease_until`) -> sent | failed, or bundled into another
row, or cancelled (the incident was acknowledged before a delayed rule came due).
A lease is renewed while its send is in flight; one that expires (its engine died) is retried,
never assumed sent, and receivers deduplicate by `idempotency_key`, which every channel passes
on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.db import Base, UTCDateTime

STATUSES = ("pending", "sending", "sent", "failed", "bundled", "cancelled")


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))  # page | notify | update
    incident_id: Mapped[str | None] = mapped_column(
        ForeignKey("incidents.id"), nullable=True, index=True
    )
    # History outlives people: removing someone from the on-call file keeps their messages.
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), nullable=True
    )
    contact_method_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_methods.id", ondelete="SET NULL"), nullable=True
    )
    rule_position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    channel: Mapped[str] = mapped_column(String(20))  # a kind: email | webhook | apprise | ...
    address: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # structured payload
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    bundled_into: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        Index(
            "ix_notifications_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index(
            "ix_notifications_leased",
            "lease_until",
            postgresql_where=text("status = 'sending'"),
            sqlite_where=text("status = 'sending'"),
        ),
        # The rate limit's "when did this contact method last get a message?"
        Index(
            "ix_notifications_method_sent",
            "contact_method_id",
            "sent_at",
            postgresql_where=text("status = 'sent'"),
            sqlite_where=text("status = 'sent'"),
        ),
        # A named channel's rate limit: "how many messages did it get in the last minute?"
        Index(
            "ix_notifications_named_sent",
            "address",
            "sent_at",
            postgresql_where=text("status = 'sent' AND address LIKE 'channel:%'"),
            sqlite_where=text("status = 'sent' AND address LIKE 'channel:%'"),
        ),
    )


class NamedChannel(Base):
    """A notification channel saved under a name (`tocsin notify channel add`), which policy
    audiences reach as `channel:<name>`. `config` holds the kind's settings, secrets included:
    only the sending channel reads them whole; everything else shows them masked."""

    __tablename__ = "notification_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(200))


class ServerSecret(Base):
    """Secrets every instance must share (the acknowledge-link signing key), sealed."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # `fernet:<token>`, see tocsin.vault
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UsedAckToken(Base):
    """Acknowledge links are single-use: a used link's nonce is kept until it expires."""

    __tablename__ = "used_ack_tokens"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
