"""People who sign in to the console: creating them, their passwords, disabling them.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommended
profile); a hash made with older parameters is replaced at the next good sign-in.
"""

from __future__ import annotations

import re
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.auth import sessions
from tocsin.auth.models import User
from tocsin.auth.service import ROLES, check_role
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.timesource import now

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; this only bounds the work one request can ask for
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Checked when the username is unknown, so an unknown name costs as long as a wrong
    password. Made on the first failed sign-in, not at import: every CLI call imports this."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME.match(name):
        raise InvalidInput(
            f"username {username!r} is not allowed: use 1-64 lower-case letters, digits, "
            "'.', '_' or '-', starting with a letter or digit (e.g. ada.lovelace)",
            field="username",
        )
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"password: at least {MIN_PASSWORD} characters (a passphrase of a few words works)",
            field="password",
        )
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"password: at most {MAX_PASSWORD} characters", field="password")


def generate_password() -> str:
    """A password for someone to change later: 20 URL-safe characters (120 bits)."""
    return secrets.token_urlsafe(15)


def find(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.name == username.strip().lower()))


def get(session: Session, username: str) -> User:
    user = find(session, username)
    if user is None:
        raise NotFound(f"no user named {username!r}", field="username")
    return user


def create_user(
    session: Session, *, username: str, role: str, password: str, display_name: str | None = None
) -> User:
    """A person who signs in with `password`. A name used so far only for API tokens becomes
    this person (their tokens stay theirs)."""
    name = _check_username(username)
    check_role(role)
    check_password(password)
    user = find(session, name)
    if user is not None and user.password_hash is not None:
        raise Conflict(f"a user named {name!r} already exists", field="username")
    if user is None:
        user = User(name=name, role=role, created_at=now())
        session.add(user)
    user.role = role
    user.display_name = (display_name or "").strip() or None
    user.password_hash = hash_password(password)
    user.password_changed_at = now()
    user.disabled = False
    session.flush()
    return user


def list_users(session: Session) -> list[User]:
    """People who can sign in with a password, by username."""
    return list(
        session.scalars(select(User).where(User.password_hash.is_not(None)).order_by(User.name))
    )


def has_admin(session: Session) -> bool:
    """Whether any enabled admin can sign in with a password."""
    return (
        session.scalar(
            select(User.id).where(
                User.password_hash.is_not(None), User.role == "admin", User.disabled.is_(False)
            )
        )
        is not None
    )


def set_password(session: Session, *, username: str, password: str) -> User:
    """A new password; every session the user had ends (sign in again with the new one)."""
    user = get(session, username)
    check_password(password)
    user.password_hash = hash_password(password)
    user.password_changed_at = now()
    sessions.end_for_user(session, user, reason="password-changed")
    session.flush()
    return user


def set_disabled(session: Session, *, username: str, disabled: bool) -> User:
    """Disable (their sessions end at once; their API tokens stop working) or enable."""
    user = get(session, username)
    user.disabled = disabled
    if disabled:
        sessions.end_for_user(session, user, reason="disabled")
    session.flush()
    return user


def verify_password(session: Session, username: str, password: str) -> User | None:
    """The enabled user with this username and password, else None. Takes as long for an
    unknown name as for a wrong password, so the answer does not tell which."""
    user = find(session, username)
    stored = user.password_hash if user is not None else None
    try:
        _hasher.verify(stored or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or stored is None or user.disabled:
        return None
    if _hasher.check_needs_rehash(stored):
        user.password_hash = hash_password(password)
    return user


__all__ = ["ROLES", "create_user", "get", "list_users", "set_disabled", "set_password"]
