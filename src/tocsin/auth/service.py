"""Creating, checking and revoking API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tocsin.auth.models import ApiToken, User
from tocsin.errors import InvalidInput
from tocsin.timesource import now

ROLES = ("admin", "responder", "viewer")
TOKEN_PREFIX = "tcn_"
# What each role may do. Viewers read; responders run incidents; admins also manage Tocsin.
PERMISSIONS = {
    "viewer": frozenset({"read"}),
    "responder": frozenset({"read", "respond"}),
    "admin": frozenset({"read", "respond", "admin"}),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user's name (recorded as the actor) and their role."""

    name: str
    role: str
    token_id: int | None = None
    # Signed in to the console: the session's row, the token its forms carry, and the
    # person's display name.
    session_id: int | None = None
    csrf: str | None = None
    display_name: str | None = None

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS[self.role]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(
            f"unknown role {role!r}; allowed: {', '.join(ROLES)}", field="role", allowed=ROLES
        )


def _user(session: Session, name: str, role: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        user = User(name=name, role=role, created_at=now())
        session.add(user)
        session.flush()
    elif user.password_hash is None:
        user.role = role  # a person's role is their own; a token carries its role itself
    return user


def create_token(session: Session, *, name: str, role: str) -> str:
    """Create a token for user `name` (created if new) and return it. Only its digest is kept."""
    check_role(role)
    if not name.strip():
        raise InvalidInput("a token needs a name", field="name")
    user = _user(session, name.strip(), role)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user=user,
            name=name.strip(),
            role=role,
            digest=digest(token),
            prefix=token[:10],
            created_at=now(),
        )
    )
    session.flush()
    return token


def revoke_named(session: Session, *, name: str) -> int:
    """Revoke every live token with this name; returns how many."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def authenticate(session: Session, token: str) -> Principal | None:
    # One joined read: every API request authenticates, so the user is not lazy-loaded after.
    row = session.execute(
        select(User.name, ApiToken.role, ApiToken.id)
        .join(User, ApiToken.user_id == User.id)
        .where(
            ApiToken.digest == digest(token),
            ApiToken.revoked_at.is_(None),
            User.disabled.is_(False),
        )
    ).first()
    if row is None:
        return None
    return Principal(name=row.name, role=row.role, token_id=row.id)


def find_live_token(session: Session, token: str) -> ApiToken | None:
    return session.scalar(
        select(ApiToken).where(ApiToken.digest == digest(token), ApiToken.revoked_at.is_(None))
    )


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))
