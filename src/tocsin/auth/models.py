"""People, their API tokens and their console sessions.

Tokens and session ids are stored only as SHA-256 digests; passwords only as argon2id hashes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tocsin.db import Base, UTCDateTime


class User(Base):
    """A person (or, for a token made by name only, a machine). `name` is the username:
    it is what timelines record as the actor."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # argon2id, in the PHC string form argon2-cffi writes; None: cannot sign in with a password.
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")

    @property
    def shown_name(self) -> str:
        return self.display_name or self.name


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    # SHA-256 is enough: tokens carry 256 bits of entropy, so there is nothing to brute-force.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship(back_populates="tokens")


class ConsoleSession(Base):
    """One signed-in browser. The cookie holds a random id; only its digest is kept here."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # Signed in with an API token rather than a password: revoking the token ends it.
    token_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"), nullable=True)
    # The per-session token every console form carries (checked on each POST).
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Why it ended: signed-out, disabled, password-changed, token-revoked.
    ended_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)

    user: Mapped[User] = relationship()
    token: Mapped[ApiToken | None] = relationship()
