"""The outbox: nothing leaves Tocsin except through here, and nothing is dropped silently.

A row's life (see tocsin.notify.models):

    pending --claim--> sending --delivered--> sent
       ^                  |  \\--transient error, attempts left--> pending (+ backoff)
       |                  |  \\--permanent error, or attempts used up--> failed (+ fallback)
       |                  \\--lease expired, no result (crash)--> claimed again (never "sent")
       +-- claimed while its contact method is rate limited: pushed back, no attempt counted
    pending --a sibling to the same address and incident is sent--> bundled
    pending --cancel_pending (acknowledged)--> cancelled

Exactly once towards the receiver, as far as the receiver cooperates:
- the claim commits before the send, and rows are claimed with `FOR UPDATE SKIP LOCKED`
  (PostgreSQL) and a conditional UPDATE, so two engines never both send a row;
- an engine claims only what it sends at once (one batch, sent in parallel) and records each
  outcome in its own transaction as soon as it has it, so a crash strands one batch at most;
- while a send is in flight its engine keeps renewing the lease, so a slow send is never taken
  over by another engine: a lease runs out only when its engine died, or lost the database
  (or stalled) for longer than the lease;
- the outcome is recorded only by the holder of the lease (same attempt number);
- every channel passes on the idempotency key. A send cut short by a crash after the receiver
  accepted it is sent again (the sender cannot know it arrived) with the same key, so the
  receiver can recognise the copy and drop it.
Engines' clocks must agree to well within the lease: the lease is an instant one engine writes
and another compares with its own clock.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from hashlib import sha256
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Update, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tocsin.db import Database, upsert_insert
from tocsin.engine import wakeup
from tocsin.errors import InvalidInput
from tocsin.incidents import timeline
from tocsin.incidents.models import Incident
from tocsin.incidents.service import lock
from tocsin.notify import channels
from tocsin.notify.channels import RATE_LIMIT_S, RATE_LIMITED, DeliveryError, Message, Send
from tocsin.notify.models import Notification
from tocsin.oncall.models import ContactMethod, NotificationRule, Person
from tocsin.timesource import as_utc, now

log = logging.getLogger("tocsin.engine.outbox")

ACTOR = "tocsin"
PURPOSES = ("page", "notify", "update")
MAX_ATTEMPTS = 5
LEASE_ENV = "TOCSIN_OUTBOX_LEASE"
LEASE_S = 30.0  # how long a claim outlives its engine's last sign of life (see lease())
RENEWALS_PER_LEASE = 3
BACKOFF_BASE_S = 5.0
BACKOFF_FACTOR = 3.0
BACKOFF_CAP_S = 600.0
BATCH = 16  # rows claimed per pass, all sent at once (claim no more than is being sent)
RATE_WINDOW = timedelta(seconds=RATE_LIMIT_S)
KEY_LENGTH = 300


# -- What other domains call -------------------------------------------------------------------


def enqueue(
    session: Session,
    *,
    idempotency_key: str,
    purpose: str,
    channel: str,
    address: str,
    subject: str,
    body: str,
    data: dict[str, Any] | None = None,
    incident_id: str | None = None,
    person_id: int | None = None,
    contact_method_id: int | None = None,
    rule_position: int | None = None,
    send_after: datetime | None = None,
) -> bool:
    """Queue one message; True if a row was created, False if the key was already queued."""
    _check_enqueue(idempotency_key, purpose, channel)
    at = now()
    due = max(send_after, at) if send_after is not None else at
    values = {
        "idempotency_key": idempotency_key,
        "purpose": purpose,
        "channel": channel,
        "address": address,
        "subject": subject,
        "body": body,
        "data": dict(data or {}),
        "incident_id": incident_id,
        "person_id": person_id,
        "contact_method_id": contact_method_id,
        "rule_position": rule_position,
        "status": "pending",
        "attempts": 0,
        "created_at": at,
        "next_attempt_at": due,
    }
    insert = _insert_ignoring_duplicates(session, values).returning(Notification.id)
    created = session.execute(insert).scalar() is not None
    if created:
        wakeup.after_commit(session)
    return created


def cancel_pending(session: Session, *, incident_id: str, purpose: str = "page") -> int:
    """Stop messages not yet sent (an acknowledgement stops the delayed rules)."""
    statement = (
        update(Notification)
        .where(
            Notification.incident_id == incident_id,
            Notification.purpose == purpose,
            Notification.status == "pending",
        )
        .values(status="cancelled", lease_until=None)
    )
    return _rowcount(session.execute(_unsynchronised(statement)))


def failures_for(session: Session, incident_id: str) -> list[Notification]:
    """Messages about this incident that could not be delivered, oldest first."""
    query = select(Notification).where(
        Notification.incident_id == incident_id, Notification.status == "failed"
    )
    return list(session.scalars(query.order_by(Notification.id)))


def backoff(attempt: int, *, jitter: float | None = None) -> timedelta:
    """5 s, 15 s, 45 s, ... capped at 10 min, less up to 20 % so retries do not march in step."""
    nominal = min(BACKOFF_BASE_S * BACKOFF_FACTOR ** (attempt - 1), BACKOFF_CAP_S)
    spread = random.random() if jitter is None else jitter
    return timedelta(seconds=nominal * (1 - 0.2 * spread))


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


def _check_enqueue(idempotency_key: str, purpose: str, channel: str) -> None:
    if not idempotency_key or len(idempotency_key) > KEY_LENGTH:
        raise InvalidInput(
            f"idempotency_key must be 1 to {KEY_LENGTH} characters", field="idempotency_key"
        )
    if purpose not in PURPOSES:
        raise InvalidInput(f"unknown purpose {purpose!r}", field="purpose", allowed=PURPOSES)
    if channel not in channels.CHANNELS:
        allowed = sorted(channels.CHANNELS)
        raise InvalidInput(f"unknown channel {channel!r}", field="channel", allowed=allowed)


def _insert_ignoring_duplicates(
    session: Session, values: dict[str, Any]
) -> postgresql.Insert | sqlite.Insert:
    return (
        upsert_insert(session)(Notification)
        .values(values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def _unsynchronised(statement: Update) -> Update:
    # The outbox never edits loaded rows in place: every change is a conditional UPDATE.
    return statement.execution_options(synchronize_session=False)


# -- A claimed row, as the sender sees it --------------------------------------------------------


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

    @property
    def message(self) -> Message:
        return Message(
            idempotency_key=self.idempotency_key,
            purpose=self.purpose,
            channel=self.channel,
            address=self.address,
            subject=self.subject,
            body=with_bundle_summary(self.body, self.data),
            data=self.data,
        )


def with_bundle_summary(body: str, data: dict[str, Any]) -> str:
    bundled = data.get("bundled") or []
    if not bundled:
        return body
    noun = "update" if len(bundled) == 1 else "updates"
    lines = "\n".join(f"- {item['subject']}" for item in bundled)
    return f"{body}\n\nAnd {len(bundled)} more {noun}:\n{lines}"


def _snapshot(row: Notification, attempt: int, data: dict[str, Any]) -> Claim:
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


# -- The engine step ---------------------------------------------------------------------------


class OutboxStep:
    """Engine step: claim due rows, send them outside any transaction, record each outcome."""

    name = "outbox"

    def __init__(self, deliver: Send = channels.deliver) -> None:
        self.deliver = deliver

    def run_due(self, database: Database) -> int:
        """1. Claim due rows and commit the claim (rate limits and bundling decided here).
        2. Give up on rows whose lease expired on their last attempt.
        3. Send the rest in parallel, outside any transaction, renewing their leases while
           they are in flight; record each outcome on its own as soon as it is known.
        """
        taken = claim_due(database, now())
        for claim in taken.exhausted:
            error = DeliveryError(
                f"no result after {claim.attempt} attempts: the sender stopped mid-send"
            )
            _record_safely(database, claim, error)
        self._send_all(database, taken.claims)
        return taken.handled

    def next_due(self, database: Database) -> datetime | None:
        with database.read_session() as session:
            pending = session.scalar(
                select(func.min(Notification.next_attempt_at)).where(
                    Notification.status == "pending"
                )
            )
            leased = session.scalar(
                select(func.min(Notification.lease_until)).where(Notification.status == "sending")
            )
        found = [as_utc(value) for value in (pending, leased) if value is not None]
        return min(found) if found else None

    def _send_all(self, database: Database, claims: Sequence[Claim]) -> None:
        """Send every claim at once; until each is recorded, keep its lease alive."""
        if not claims:
            return
        every = lease().total_seconds() / RENEWALS_PER_LEASE
        with ThreadPoolExecutor(len(claims), thread_name_prefix="tocsin-outbox") as pool:
            futures = {pool.submit(self._send_one, database, claim): claim for claim in claims}
            running: set[Future[None]] = set(futures)
            while running:
                _, still = wait(running, timeout=every)
                running = set(still)
                if running:
                    renew_leases(database, [futures[future] for future in running])
            for future in futures:
                future.result()  # _send_one records every failure; anything else is a bug

    def _send_one(self, database: Database, claim: Claim) -> None:
        try:
            self.deliver(claim.message)
        except DeliveryError as exc:
            _record_safely(database, claim, exc)
        except Exception as exc:  # a bug in a channel is one failed attempt, not a dead engine
            log.exception("channel %s raised on notification %s", claim.channel, claim.id)
            _record_safely(database, claim, DeliveryError(f"unexpected error: {exc!r}"[:500]))
        else:
            _record_safely(database, claim, None)


# -- 1. Claim ----------------------------------------------------------------------------------


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
        Notification.status == "pending", Notification.next_attempt_at <= at
    )
    stale = select(Notification.id).where(
        Notification.status == "sending", Notification.lease_until < at
    )
    return any(session.scalar(query.limit(1)) is not None for query in (stale, due))


def _lock_due(session: Session, at: datetime) -> list[Notification]:
    """Stale leases first, then due rows; rows another engine holds are skipped (PostgreSQL).

    Two queries, each matching one partial index, so a pass costs what is due.
    """
    stale = (
        select(Notification)
        .where(Notification.status == "sending", Notification.lease_until < at)
        .order_by(Notification.lease_until)
        .limit(BATCH)
        .with_for_update(skip_locked=True, key_share=True)
    )
    rows = list(session.scalars(stale))
    if len(rows) >= BATCH:
        return rows
    due = (
        select(Notification)
        .where(Notification.status == "pending", Notification.next_attempt_at <= at)
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
        for row in _lock_due(session, at):
            _claim_one(session, row, at, until, taken)
    return taken


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
            return _rowcount(session.execute(_unsynchronised(statement)))
    except Exception:  # the sends go on; if the leases run out, their rows are sent again
        log.exception("could not renew the leases of %d sends in flight", len(claims))
        return 0


def _claim_one(
    session: Session, row: Notification, at: datetime, until: datetime, taken: ClaimPass
) -> None:
    if row.status == "sending" and row.attempts >= MAX_ATTEMPTS:
        taken.exhausted.append(_snapshot(row, row.attempts, row.data))
        return
    if row.channel in RATE_LIMITED and row.contact_method_id is not None:
        allowed_at = _rate_limit(session, row, at)
        if allowed_at is None:
            return  # another engine is deciding for this contact method; next pass
        if allowed_at > at:
            taken.deferred += _defer(session, row, at, allowed_at)
            return
    claim = _take(session, row, at, until)
    if claim is not None:
        taken.claims.append(claim)


def _take(session: Session, row: Notification, at: datetime, until: datetime) -> Claim | None:
    """Lease the row until `until`, bundling same-incident messages to the same address in."""
    siblings = _lock_siblings(session, row, at) if row.channel in RATE_LIMITED else []
    data = _with_bundled(row.data, siblings)
    attempt = row.attempts + 1
    statement = (
        update(Notification)
        .where(Notification.id == row.id, Notification.attempts == row.attempts, _claimable(at))
        .values(status="sending", lease_until=until, attempts=attempt, data=data)
    )
    if _rowcount(session.execute(_unsynchronised(statement))) != 1:
        return None  # bundled into a row claimed earlier in this pass, or taken meanwhile
    _mark_bundled(session, [sibling_id for sibling_id, _ in siblings], row.id)
    return _snapshot(row, attempt, data)


def _defer(session: Session, row: Notification, at: datetime, until: datetime) -> int:
    statement = (
        update(Notification)
        .where(Notification.id == row.id, Notification.attempts == row.attempts, _claimable(at))
        .values(status="pending", next_attempt_at=until, lease_until=None)
    )
    return _rowcount(session.execute(_unsynchronised(statement)))


def _rate_limit(session: Session, row: Notification, at: datetime) -> datetime | None:
    """When this row may be sent: `at` or later; None if another engine holds the method.

    The contact method's row is locked for the rest of the claim, so two engines never both
    decide the method is free.
    """
    held = session.scalar(
        select(ContactMethod.id)
        .where(ContactMethod.id == row.contact_method_id)
        .with_for_update(skip_locked=True, key_share=True)
    )
    if held is None:
        return None if _exists(session, row.contact_method_id) else at
    in_flight = session.scalar(
        select(Notification.id)
        .where(
            Notification.contact_method_id == row.contact_method_id,
            Notification.status == "sending",
            Notification.lease_until >= at,
            Notification.id != row.id,
        )
        .limit(1)
    )
    if in_flight is not None:
        return at + RATE_WINDOW
    last_sent = session.scalar(
        select(func.max(Notification.sent_at)).where(
            Notification.contact_method_id == row.contact_method_id,
            Notification.status == "sent",
        )
    )
    return at if last_sent is None else max(at, as_utc(last_sent) + RATE_WINDOW)


def _exists(session: Session, contact_method_id: int | None) -> bool:
    """Locked by another engine (skip it this pass), or gone (nothing to rate limit)?"""
    query = select(ContactMethod.id).where(ContactMethod.id == contact_method_id)
    return session.scalar(query) is not None


def _lock_siblings(session: Session, row: Notification, at: datetime) -> list[tuple[int, str]]:
    """Pending messages for the same address, incident and purpose due within the window."""
    if row.incident_id is None:
        return []
    query = (
        select(Notification.id, Notification.subject)
        .where(
            Notification.incident_id == row.incident_id,
            Notification.channel == row.channel,
            Notification.address == row.address,
            Notification.purpose == row.purpose,
            Notification.status == "pending",
            Notification.next_attempt_at <= at + RATE_WINDOW,
            Notification.id != row.id,
        )
        .order_by(Notification.next_attempt_at, Notification.id)
        .with_for_update(skip_locked=True, key_share=True)
    )
    return [(sibling_id, subject) for sibling_id, subject in session.execute(query)]


def _with_bundled(data: dict[str, Any], siblings: list[tuple[int, str]]) -> dict[str, Any]:
    if not siblings:
        return data
    earlier = list(data.get("bundled") or [])
    added = [{"id": sibling_id, "subject": subject} for sibling_id, subject in siblings]
    return {**data, "bundled": earlier + added}


def _mark_bundled(session: Session, sibling_ids: list[int], lead_id: int) -> None:
    if not sibling_ids:
        return
    statement = (
        update(Notification)
        .where(Notification.id.in_(sibling_ids), Notification.status == "pending")
        .values(status="bundled", bundled_into=lead_id, lease_until=None)
    )
    session.execute(_unsynchronised(statement))


# -- 3. Record the outcome ---------------------------------------------------------------------


def _record_safely(database: Database, claim: Claim, error: DeliveryError | None) -> None:
    """Record an outcome; if even that fails the lease expires and the row is sent again."""
    try:
        if error is None:
            record_sent(database, claim)
        elif error.permanent or claim.attempt >= MAX_ATTEMPTS:
            record_failure(database, claim, error)
        else:
            record_retry(database, claim, error)
    except Exception:
        log.exception(
            "could not record the outcome of notification %s (attempt %s); it will be retried "
            "when its lease expires",
            claim.id,
            claim.attempt,
        )


def _settle(session: Session, claim: Claim, **values: Any) -> bool:
    """Apply an outcome only while this attempt still holds the row's lease."""
    statement = (
        update(Notification)
        .where(
            Notification.id == claim.id,
            Notification.status == "sending",
            Notification.attempts == claim.attempt,
        )
        .values(lease_until=None, **values)
    )
    settled = _rowcount(session.execute(_unsynchronised(statement))) == 1
    if not settled:
        log.warning("notification %s attempt %s lost its lease", claim.id, claim.attempt)
    return settled


def record_sent(database: Database, claim: Claim) -> bool:
    at = now()
    with database.write_session() as session:
        # Lock the incident before the row: the order requests use, so no deadlock.
        incident = _locked_incident(session, claim) if claim.purpose == "page" else None
        if not _settle(session, claim, status="sent", sent_at=at, last_error=None):
            return False
        _set_contact_error(session, claim.contact_method_id, None)
        if incident is not None:
            data = {
                "person": _handle(session, claim.person_id),
                "channel": claim.channel,
                "notification_id": claim.id,
            }
            timeline.append(
                session, incident=incident, kind="page_delivered", actor=ACTOR, at=at, data=data
            )
    return True


def record_retry(database: Database, claim: Claim, error: DeliveryError) -> bool:
    at = now()
    log.info("notification %s attempt %s failed: %s", claim.id, claim.attempt, error.message)
    with database.write_session() as session:
        if _acknowledged_since(session, claim):
            return _settle(session, claim, status="cancelled", last_error=error.message)
        retry_at = at + backoff(claim.attempt)
        settled = _settle(
            session, claim, status="pending", next_attempt_at=retry_at, last_error=error.message
        )
    wakeup.notify()  # committed above
    return settled


def record_failure(database: Database, claim: Claim, error: DeliveryError) -> bool:
    """1. Lock the incident (the order requests use) and mark the row failed.
    2. Note the error on the contact method, where its owner sees it.
    3. Fall back to the person's next notification rule.
    4. Record `notification_failed` on the incident's timeline.
    """
    at = now()
    log.warning("notification %s failed for good: %s", claim.id, error.message)
    with database.write_session() as session:
        incident = _locked_incident(session, claim)
        if not _settle(session, claim, status="failed", last_error=error.message):
            return False
        _set_contact_error(session, claim.contact_method_id, error.message)
        fallback = _fall_back(session, claim, incident, at)
        if incident is not None:
            data = _failure_data(session, claim, error, fallback)
            timeline.append(
                session,
                incident=incident,
                kind="notification_failed",
                actor=ACTOR,
                at=at,
                data=data,
            )
    wakeup.notify()  # committed above
    return True


def _locked_incident(session: Session, claim: Claim) -> Incident | None:
    return None if claim.incident_id is None else lock(session, claim.incident_id)


def _acknowledged_since(session: Session, claim: Claim) -> bool:
    """A page queued before the incident was acknowledged is not worth retrying."""
    if claim.purpose != "page" or claim.incident_id is None:
        return False
    acknowledged_at = session.scalar(
        select(Incident.acknowledged_at).where(Incident.id == claim.incident_id)
    )
    return acknowledged_at is not None and as_utc(acknowledged_at) >= claim.created_at


def _set_contact_error(session: Session, contact_method_id: int | None, error: str | None) -> None:
    if contact_method_id is None:
        return
    statement = update(ContactMethod).where(ContactMethod.id == contact_method_id)
    if error is None:  # clear a stale error, without writing on every successful send
        statement = statement.where(ContactMethod.last_error.is_not(None))
    session.execute(_unsynchronised(statement.values(last_error=error)))


def _handle(session: Session, person_id: int | None) -> str | None:
    if person_id is None:
        return None
    return session.scalar(select(Person.handle).where(Person.id == person_id))


def _failure_data(
    session: Session, claim: Claim, error: DeliveryError, fallback: str | None
) -> dict[str, Any]:
    return {
        "notification_id": claim.id,
        "person": _handle(session, claim.person_id),
        "channel": claim.channel,
        "address": channels.mask_address(claim.address),
        "error": error.message,
        "attempts": claim.attempt,
        "permanent": error.permanent,
        "fallback": fallback,
    }


# -- Fallback: the next way to reach the same person -------------------------------------------


def _fall_back(
    session: Session, claim: Claim, incident: Incident | None, at: datetime
) -> str | None:
    """Reach the same person another way; say what was done (None: nothing left to try).

    1. Nobody to reach, or the incident was acknowledged since this page was queued: stop.
    2. A later rule's message is still waiting (a delayed rule): send it now.
    3. A later rule's message went out after this one was queued: the person was reached.
    4. Otherwise queue a message for the person's next rule.
    """
    if claim.person_id is None or incident is None:
        return None
    acknowledged = incident.acknowledged_at
    if claim.purpose == "page" and acknowledged is not None and acknowledged >= claim.created_at:
        return None
    later = _later_rule_rows(session, claim)
    waiting = [row for row in later if row.status == "pending"]
    if waiting:
        return _pull_forward(session, waiting[0], at)
    for row in later:
        if row.status == "sending" or (row.sent_at and row.sent_at >= claim.created_at):
            return f"{row.channel} (rule {row.rule_position}), already {row.status}"
    return _queue_next_rule(session, claim)


def _later_rule_rows(session: Session, claim: Claim) -> list[Notification]:
    """This person's messages about this incident for later rules, through other methods."""
    query = (
        select(Notification)
        .where(
            Notification.incident_id == claim.incident_id,
            Notification.person_id == claim.person_id,
            Notification.purpose == claim.purpose,
            Notification.rule_position > _position(claim),
            Notification.contact_method_id.is_distinct_from(claim.contact_method_id),
            Notification.status.in_(("pending", "sending", "sent")),
        )
        .order_by(Notification.rule_position, Notification.id)
    )
    return list(session.scalars(query))


def _position(claim: Claim) -> int:
    return -1 if claim.rule_position is None else claim.rule_position


def _pull_forward(session: Session, row: Notification, at: datetime) -> str:
    statement = (
        update(Notification)
        .where(
            Notification.id == row.id,
            Notification.status == "pending",
            Notification.next_attempt_at > at,
        )
        .values(next_attempt_at=at)
    )
    session.execute(_unsynchronised(statement))
    return f"{row.channel} (rule {row.rule_position}), sending now"


def _queue_next_rule(session: Session, claim: Claim) -> str | None:
    query = (
        select(NotificationRule, ContactMethod)
        .join(ContactMethod, ContactMethod.id == NotificationRule.contact_method_id)
        .where(
            NotificationRule.person_id == claim.person_id,
            NotificationRule.position > _position(claim),
        )
        .order_by(NotificationRule.position, NotificationRule.id)
    )
    if claim.contact_method_id is not None:
        query = query.where(NotificationRule.contact_method_id != claim.contact_method_id)
    found = session.execute(query.limit(1)).first()
    if found is None:
        return None
    rule, method = found
    enqueue(
        session,
        idempotency_key=fallback_key(claim.idempotency_key, rule.position),
        purpose=claim.purpose,
        channel=method.kind,
        address=method.address,
        subject=claim.subject,
        body=claim.body,
        data={**claim.data, "fallback_from": claim.id},
        incident_id=claim.incident_id,
        person_id=claim.person_id,
        contact_method_id=method.id,
        rule_position=rule.position,
    )
    return f"{method.kind} {method.name!r} (rule {rule.position}), sending now"


def fallback_key(idempotency_key: str, position: int) -> str:
    """Derived from the failed row's key, so a retried outcome queues the fallback once."""
    key = f"{idempotency_key}/fallback-{position}"
    if len(key) <= KEY_LENGTH:
        return key
    return f"fallback-{position}-{sha256(idempotency_key.encode()).hexdigest()}"


__all__ = [
    "MAX_ATTEMPTS",
    "Claim",
    "OutboxStep",
    "backoff",
    "cancel_pending",
    "enqueue",
    "failures_for",
    "lease",
]
