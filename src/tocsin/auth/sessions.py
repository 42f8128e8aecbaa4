"""Console sessions: server-side rows, and the limit on guessing passwords.

- The browser's cookie holds a random id (256 bits); the row keeps only its SHA-256 digest,
  so a copy of the database signs nobody in.
- A session ends when its user signs out, is disabled or changes their password, when the
  token it was opened with is revoked, after `IDLE` without a request, and `ABSOLUTE` after
  it began, whichever comes first.
- Each session has its own CSRF token that every console form carries.
"""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tocsin.auth.models import ApiToken, ConsoleSession, User
from tocsin.auth.service import Principal, digest
from tocsin.timesource import now

IDLE = timedelta(hours=12)  # a quiet night on call does not sign a responder out
ABSOLUTE = timedelta(days=7)
# How stale last_seen_at may get before a request writes it again (spares a write per page).
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Opened:
    """A new session: `cookie` goes to the browser, once; only its digest is stored."""

    cookie: str
    row: ConsoleSession


def open_session(session: Session, user: User, *, token: ApiToken | None = None) -> Opened:
    cookie = secrets.token_urlsafe(32)
    moment = now()
    row = ConsoleSession(
        digest=digest(cookie),
        user=user,
        token=token,
        csrf=secrets.token_urlsafe(32),
        created_at=moment,
        last_seen_at=moment,
    )
    session.add(row)
    session.flush()
    return Opened(cookie=cookie, row=row)


def _live(row: ConsoleSession, moment: datetime) -> bool:
    if row.ended_at is not None or row.user.disabled:
        return False
    if moment - row.last_seen_at > IDLE or moment - row.created_at > ABSOLUTE:
        return False
    if row.token is not None and row.token.revoked_at is not None:
        return False
    return row.token is not None or row.user.password_hash is not None


def principal_of(row: ConsoleSession) -> Principal:
    role = row.token.role if row.token is not None else row.user.role
    return Principal(
        name=row.user.name,
        role=role,
        token_id=row.token_id,
        session_id=row.id,
        csrf=row.csrf,
        display_name=row.user.shown_name,
    )


def resolve(session: Session, cookie: str) -> tuple[Principal, bool] | None:
    """Who this cookie signs in, and whether last_seen_at is due a write (see `touch`);
    None for an unknown, ended or expired session, or a disabled user's."""
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.digest == digest(cookie)))
    moment = now()
    if row is None or not _live(row, moment):
        return None
    return principal_of(row), moment - row.last_seen_at > TOUCH_EVERY


def touch(session: Session, session_id: int) -> None:
    session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.id == session_id, ConsoleSession.ended_at.is_(None))
        .values(last_seen_at=now())
    )


def end(session: Session, cookie: str, *, reason: str = "signed-out") -> bool:
    """End the session this cookie holds; whether there was a live one."""
    result = session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.digest == digest(cookie), ConsoleSession.ended_at.is_(None))
        .values(ended_at=now(), ended_reason=reason)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def end_for_user(session: Session, user: User, *, reason: str) -> int:
    """End every session `user` has open; how many."""
    result = session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.user_id == user.id, ConsoleSession.ended_at.is_(None))
        .values(ended_at=now(), ended_reason=reason)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def live_sessions(session: Session, user: User) -> int:
    moment = now()
    rows = session.scalars(
        select(ConsoleSession).where(
            ConsoleSession.user_id == user.id, ConsoleSession.ended_at.is_(None)
        )
    )
    return sum(1 for row in rows if _live(row, moment))


# -- guessing -----------------------------------------------------------------------------------


class LoginLimiter:
    """Failed sign-ins per username and per client address in a sliding window. Past the
    limit every attempt is refused (with the same words as a wrong password) until the
    window has moved on. Kept per process: behind a load balancer each node counts its own.
    """

    def __init__(
        self,
        *,
        per_username: int = 5,
        per_address: int = 20,
        window: timedelta = timedelta(minutes=15),
    ) -> None:
        self.limits = {"user": per_username, "addr": per_address}
        self.window = window
        self._failures: dict[tuple[str, str], deque[datetime]] = {}
        self._lock = threading.Lock()

    def _keys(self, username: str, address: str) -> list[tuple[str, str]]:
        """No username (an API token sign-in): only the address counts."""
        name = username.strip().lower()
        return [("user", name), ("addr", address)] if name else [("addr", address)]

    def _recent(self, key: tuple[str, str], moment: datetime) -> deque[datetime]:
        times = self._failures.setdefault(key, deque())
        while times and moment - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, username: str, address: str) -> bool:
        moment = now()
        with self._lock:
            return any(
                len(self._recent(key, moment)) >= self.limits[key[0]]
                for key in self._keys(username, address)
            )

    def failed(self, username: str, address: str) -> None:
        moment = now()
        with self._lock:
            for key in self._keys(username, address):
                self._recent(key, moment).append(moment)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(("user", username.strip().lower()), None)
