"""Claiming: due rows are leased to one engine in a short transaction committed before
anything is sent, so two engines never send the same row. A lease outlives its engine's
last sign of life by `lease()`; a live engine renews it while the send is in flight, so only
a dead engine's rows are claimed again (retried, never assumed sent)."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnClause, ColumnElement, and_, literal_column, or_, select, update
from sqlalchemy.orm import Session

from tocsin.db import Database
from tocsin.notify import sealed
from tocsin.notify.channels import RATE_LIMITED, Message, NamedSettings, named
from tocsin.notify.models import NamedChannel, Notification
from tocsin.notify.outbox import bundle, ratelimit
from tocsin.notify.outbox.queue import rowcount, unsynchronised
from tocsin.timesource import now

log = logging.getLogger("tocsin.engine.outbox")

MAX_ATTEMPTS = 5
LEASE_ENV = "TOCSIN_OUTBOX_LEASE"
LEASE_S = 30.0  # how long a claim outlives its engine's last sign of life (see lease())
# Literals, not bound parameters, so that PostgreSQL's generic plans can use the partial
# indexes (WHERE status = 'pending' / 'sending') too.
PENDING: ColumnClause[str] = literal_column("'pending'")
SENDING: ColumnClause[str] = literal_column("'sending'")
BATCH = 16  # rows claimed per pass, all sent at once (claim no more than is being sent)


@dataclass(frozen=True)
class Claim:
    """A snapshot of a leased row: everything needed to send it and record the outcome."""

    id: int
    attempt: int
    idempotency_key: str
    purpose: str
    channel: str
    address: str
    subject: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    incident_id: str | None
    person_id: int | None
    contact_method_id: int | None
    rule_position: int | None
    # A named channel's settings, looked up when the row was claimed (secrets: no repr).
    named: NamedSettings | None = field(default=None, repr=False, compare=False)

    @property
    def message(self) -> Message:
        return Message(
            idempotency_key=self.idempotency_key,
            purpose=self.purpose,
            channel=self.channel,
            address=self.address,
            subject=self.subject,
            body=bundle.with_bundle_summary(self.body, self.data),
            data=self.data,
            named=self.named,
        )


def snapshot(row: Notification, attempt: int, data: dict[str, Any]) -> Claim:
    return Claim(
        id=row.id,
        attempt=attempt,
        idempotency_key=row.idempotency_key,
        purpose=row.purpose,
        channel=row.channel,
        address=row.address,
        subject=row.subject,
        body=row.body,
        data=data,
        created_at=row.created_at,
        incident_id=row.incident_id,
        person_id=row.person_id,
        contact_method_id=row.contact_method_id,
        rule_position=row.rule_position,
    )


@dataclass
class ClaimPass:
    claims: list[Claim] = field(default_factory=list)
    exhausted: list[Claim] = field(default_factory=list)
    deferred: int = 0

    @property
    def handled(self) -> int:
        return len(self.claims) + len(self.exhausted) + self.deferred


def lease() -> timedelta:
    """How long a claimed row stays with its engine without a sign of life from it.

    A live engine renews the lease of every send in flight each third of it, so this is not
    a limit on how long a send may take: it is how long the rows of an engine that crashed
    wait before another engine (or the restarted one) sends them again. TOCSIN_OUTBOX_LEASE,
    in seconds; 30 by default.
    """
    return _lease(os.environ.get(LEASE_ENV))


@lru_cache(maxsize=8)
def _lease(raw: str | None) -> timedelta:
    if raw is None:
        return timedelta(seconds=LEASE_S)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < 86400:
        log.warning("%s=%r is not a number of seconds; using %g", LEASE_ENV, raw, LEASE_S)
        return timedelta(seconds=LEASE_S)
    return timedelta(seconds=seconds)


def _claimable(at: datetime) -> ColumnElement[bool]:
    """Due and pending, or leased by a sender that went quiet (retried, never assumed sent)."""
    return or_(
        and_(Notification.status == "pending", Notification.next_attempt_at <= at),
        and_(
            Notification.status == "sending",
            Notification.lease_until < at,
            Notification.attempts < MAX_ATTEMPTS,
        ),
    )


def _anything_due(session: Session, at: datetime) -> bool:
    """A cheap look first, so an idle engine never takes SQLite's write lock."""
    due = select(Notification.id).where(
        Notification.status == PENDING, Notification.next_attempt_at <= at
    )
    stale = select(Notification.id).where(
        Notification.status == SENDING, Notification.lease_until < at
    )
    return any(session.scalar(query.limit(1)) is not None for query in (stale, due))


def _lock_due(session: Session, at: datetime) -> list[Notification]:
    """Stale leases first, then due rows; rows another engine holds are skipped (PostgreSQL).

    Two queries, each matching one partial index, so a pass costs what is due.
    """
    stale = (
        select(Notification)
        .where(Notification.status == SENDING, Notification.lease_until < at)
        .order_by(Notification.lease_until)
        .limit(BATCH)
        .with_for_update(skip_locked=True, key_share=True)
    )
    rows = list(session.scalars(stale))
    if len(rows) >= BATCH:
        return rows
    due = (
        select(Notification)
        .where(Notification.status == PENDING, Notification.next_attempt_at <= at)
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(BATCH - len(rows))
        .with_for_update(skip_locked=True, key_share=True)
    )
    return rows + list(session.scalars(due))


def claim_due(database: Database, at: datetime) -> ClaimPass:
    """Lease due rows in one short transaction, committed before anything is sent."""
    taken = ClaimPass()
    with database.read_session() as session:
        if not _anything_due(session, at):
            return taken
    until = at + lease()
    with database.write_session() as session:
        rows = _lock_due(session, at)
        limits = ratelimit.ChannelLimits.of(session, rows)
        for row in rows:
            _claim_one(session, row, at, until, taken, limits)
        taken.claims = with_named_settings(session, taken.claims)
    return taken


def with_named_settings(session: Session, claims: list[Claim]) -> list[Claim]:
    """Claims to named channels, with the channel's settings as they are now: a channel
    fixed after a failed attempt serves the retries. A removed channel stays None."""
    names = {name for c in claims if (name := named(c.address)) is not None}
    if not names:
        return claims
    found = {
        row.name: NamedSettings(row.kind, sealed.open_config(session, row.config))
        for row in session.scalars(select(NamedChannel).where(NamedChannel.name.in_(names)))
    }
    return [_with(claim, found) for claim in claims]


def _with(claim: Claim, found: dict[str, NamedSettings]) -> Claim:
    name = named(claim.address)
    return claim if name is None else dataclasses.replace(claim, named=found.get(name))


def renew_leases(database: Database, claims: Sequence[Claim]) -> int:
    """Extend the leases of sends still in flight; how many this engine still held.

    A row another engine took over (its lease ran out while this one was stalled) is left
    alone: its outcome belongs to the new holder, whatever this send brings back.
    """
    held = or_(*(and_(Notification.id == c.id, Notification.attempts == c.attempt) for c in claims))
    statement = (
        update(Notification)
        .where(held, Notification.status == "sending")
        .values(lease_until=now() + lease())
    )
    try:
        with database.write_session() as session:
            return rowcount(session.execute(unsynchronised(statement)))
    except Exception:  # the sends go on; if the leases run out, their rows are sent again
        log.exception("could not renew the leases of %d sends in flight", len(claims))
        return 0


def _claim_one(
    session: Session,
    row: Notification,
    at: datetime,
    until: datetime,
    taken: ClaimPass,
    limits: ratelimit.ChannelLimits,
) -> None:
    if row.status == "sending" and row.attempts >= MAX_ATTEMPTS:
        taken.exhausted.append(snapshot(row, row.attempts, row.data))
        return
    allowed_at: datetime | None = at
    if row.address in limits.per_minute:
        allowed_at = limits.allowed_at(session, row, at)
    elif row.channel in RATE_LIMITED and row.contact_method_id is not None:
        allowed_at = ratelimit.allowed_at(session, row, at)
    if allowed_at is None:
        return  # another engine is deciding for this contact method or channel; next pass
    if allowed_at > at:
        taken.deferred += _defer(session, row, at, allowed_at)
        return
    claim = _take(session, row, at, until)
    if claim is not None:
        taken.claims.append(claim)


def _take(session: Session, row: Notification, at: datetime, until: datetime) -> Claim | None:
    """Lease the row until `until`, bundling same-incident messages to the same address in."""
    siblings = bundle.lock_siblings(session, row, at) if row.channel in RATE_LIMITED else []
    data = bundle.with_bundled(row.data, siblings)
    attempt = row.attempts + 1
    statement = (
        update(Notification)
        .where(Notification.id == row.id, Notification.attempts == row.attempts, _claimable(at))
        .values(status="sending", lease_until=until, attempts=attempt, data=data)
    )
    if rowcount(session.execute(unsynchronised(statement))) != 1:
        return None  # bundled into a row claimed earlier in this pass, or taken meanwhile
    bundle.mark_bundled(session, [sibling_id for sibling_id, _ in siblings], row.id)
    return snapshot(row, attempt, data)


def _defer(session: Session, row: Notification, at: datetime, until: datetime) -> int:
    statement = (
        update(Notification)
        .where(Notification.id == row.id, Notification.attempts == row.attempts, _claimable(at))
        .values(status="pending", next_attempt_at=until, lease_until=None)
    )
    return rowcount(session.execute(unsynchronised(statement)))
