"""The engine lease: one engine per deployment processes the clocks and the outbox.

However many processes run an engine (`serve --workers N` runs one in its supervising
process, a second `serve` or a `tocsin engine` on another host runs another), only the holder
of this lease ticks; the others wait on standby and take over once it expires. The holder
renews it every third of its length and releases it on a graceful stop, so a routine restart
hands over at once and a crash (`kill -9`, a lost host) within one lease length.

Why a lease is enough: the steps already claim each row in its own transaction, so two
engines running for a moment (the holder stalled past its expiry, say) send nothing twice;
the lease only keeps the deployment from doing the work N times over. It is a row updated
with a condition (`holder = me OR expires_at < now`), which both databases serialise: on
PostgreSQL the second of two racing updates re-reads the row the first committed, on SQLite
write transactions are IMMEDIATE.

Expiry is judged by the clock of whoever tries to take the lease over: hosts' clocks must
agree to well within a lease length (NTP does).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from tocsin import migrate
from tocsin.db import Database
from tocsin.engine.models import EngineLease
from tocsin.timesource import now

log = logging.getLogger("tocsin.engine")
LEASE_NAME = "engine"  # one lease a deployment
DEFAULT_LEASE_SECONDS = 15.0


class SchemaMismatch(RuntimeError):
    """The database's schema is not the one this Tocsin was built for, so the lease table
    (and more) cannot be trusted: the message names both revisions and the fix."""


def schema_problem(database: Database) -> str | None:
    """None if the database is at this code's migration head; else what is wrong, for
    operators (an older database after an upgrade of Tocsin, or the reverse)."""
    found = migrate.current_revision(database.url)
    expected = migrate.head_revision(database.url)
    if found == expected:
        return None
    return (
        f"database schema mismatch: this Tocsin expects migration {expected}, the database "
        f"is at {found or 'no migration (empty)'}; run `tocsin db upgrade` (or, if the "
        "database is newer, run the Tocsin version that migrated it)"
    )


def _explain(database: Database, exc: DBAPIError) -> SchemaMismatch | None:
    """A SQL error caused by a schema mismatch, as a SchemaMismatch; None if it was not."""
    try:
        problem = schema_problem(database)
    except Exception:  # the database itself is unreachable: the raw error says it best
        return None
    return SchemaMismatch(problem) if problem else None


@dataclass(frozen=True)
class LeaseHolder:
    holder: str
    host: str
    pid: int
    acquired_at: datetime
    expires_at: datetime


class Lease:
    """This engine's claim on the lease. `refresh()` takes or renews it; `held()` says whether
    it is still ours by our own monotonic clock (a renewal that failed, say with the database
    down, stops counting once the lease would have run out)."""

    def __init__(
        self,
        database: Database,
        holder: str,
        *,
        seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.database = database
        self.holder = holder
        self.seconds = seconds
        self.clock = clock
        self._valid_until = 0.0  # time.monotonic() after which we no longer count on it
        self._ever_held = False  # an engine that never held it has nothing to release

    @property
    def renew_every(self) -> float:
        return self.seconds / 3

    def held(self) -> bool:
        return time.monotonic() < self._valid_until

    def refresh(self) -> bool:
        """Take the lease if it is free or expired, renew it if ours; True if we hold it."""
        asked_at = time.monotonic()  # the lease runs from before we asked, to be safe
        try:
            won = self._take_or_renew()
        except DBAPIError as exc:
            mismatch = _explain(self.database, exc)
            if mismatch is not None:
                log.error("engine cannot take its lease: %s", mismatch)
            else:  # the database is down: keep what we had until it runs out
                log.warning("engine could not renew its lease: %s", exc)
            return self.held()
        except Exception as exc:  # the database is down: keep what we had until it runs out
            log.warning("engine could not renew its lease: %s", exc)
            return self.held()
        was_held = self.held()
        self._valid_until = asked_at + self.seconds if won else 0.0
        self._ever_held = self._ever_held or won
        if won and not was_held:
            log.info("engine lease taken: this engine runs the clocks and the outbox")
        elif was_held and not won:
            log.warning("engine lease lost to another engine: standing by")
        return won

    def release(self) -> None:
        """Let another engine take over at once (a graceful stop)."""
        self._valid_until = 0.0
        if not self._ever_held:
            return
        try:
            with self.database.write_session() as session:
                session.execute(
                    update(EngineLease)
                    .where(EngineLease.name == LEASE_NAME, EngineLease.holder == self.holder)
                    .values(expires_at=self.clock())
                )
        except Exception as exc:  # it expires by itself; the next engine just waits longer
            log.warning("engine could not release its lease: %s", exc)

    def _take_or_renew(self) -> bool:
        try:
            with self.database.write_session() as session:
                at = self.clock()
                expires = at + timedelta(seconds=self.seconds)
                mine = {"holder": self.holder, "host": _host(), "pid": os.getpid()}
                renewed = session.execute(
                    update(EngineLease)
                    .where(
                        EngineLease.name == LEASE_NAME,
                        or_(EngineLease.holder == self.holder, EngineLease.expires_at <= at),
                    )
                    .values(expires_at=expires, **mine)
                    .execution_options(synchronize_session=False)
                )
                if renewed.rowcount == 1:  # type: ignore[attr-defined]
                    self._note_taken_at(session, at)
                    return True
                if session.get(EngineLease, LEASE_NAME) is not None:
                    return False  # another engine holds it
                session.add(
                    EngineLease(name=LEASE_NAME, acquired_at=at, expires_at=expires, **mine)
                )
        except IntegrityError:
            return False  # another engine created the lease at the same moment, and holds it
        return True

    def _note_taken_at(self, session: Session, at: datetime) -> None:
        """A takeover (not a renewal) starts a new tenure."""
        if not self.held():
            session.execute(
                update(EngineLease)
                .where(EngineLease.name == LEASE_NAME)
                .values(acquired_at=at)
                .execution_options(synchronize_session=False)
            )


def current_holder(database: Database) -> LeaseHolder | None:
    """Who holds the lease now (None if nobody does, or it has expired). Raises
    SchemaMismatch, naming the revisions, when the schema is not this code's."""
    try:
        return _read_holder(database)
    except DBAPIError as exc:
        mismatch = _explain(database, exc)
        if mismatch is not None:
            raise mismatch from exc
        raise


def _read_holder(database: Database) -> LeaseHolder | None:
    with database.read_session() as session:
        row = session.scalar(
            select(EngineLease).where(
                EngineLease.name == LEASE_NAME, EngineLease.expires_at > now()
            )
        )
        if row is None:
            return None
        return LeaseHolder(row.holder, row.host, row.pid, row.acquired_at, row.expires_at)


def _host() -> str:
    return socket.gethostname()[:255]
