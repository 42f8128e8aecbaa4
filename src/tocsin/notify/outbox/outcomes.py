"""Recording what a send did: sent, retried after a backoff, or failed for good.

An outcome is recorded only by the holder of the row's lease (same attempt number), in its
own transaction, as soon as it is known. What an outcome means beyond the outbox row (an
event on the incident's timeline, an error shown on the person's contact method, a fallback
to their next notification rule) is for the layers above: they pass in an `Outcomes`.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.orm import Session

from tocsin.db import Database, wakeup
from tocsin.notify.channels import DeliveryError
from tocsin.notify.models import Notification
from tocsin.notify.outbox.claims import MAX_ATTEMPTS, Claim
from tocsin.notify.outbox.queue import rowcount, unsynchronised
from tocsin.timesource import now

log = logging.getLogger("tocsin.engine.outbox")

BACKOFF_BASE_S = 5.0
BACKOFF_FACTOR = 3.0
BACKOFF_CAP_S = 600.0


class Outcomes(Protocol):
    """What the rest of Tocsin does with an outcome, in the transaction that records it."""

    def lock(self, session: Session, claim: Claim) -> Any:
        """Lock what the message is about (its incident) before the outbox row: the order
        requests take locks in, so recording never deadlocks with them. Returns it, or None."""
        ...

    def delivered(self, session: Session, claim: Claim, subject: Any, at: datetime) -> None: ...

    def still_wanted(self, session: Session, claim: Claim) -> bool:
        """Is a retry still worth sending? (A page is not, once the incident is acknowledged.)"""
        ...

    def failed(
        self, session: Session, claim: Claim, subject: Any, error: DeliveryError, at: datetime
    ) -> None:
        """The message failed for good: show it where a person will see it, and fall back."""
        ...


def backoff(attempt: int, *, jitter: float | None = None) -> timedelta:
    """5 s, 15 s, 45 s, ... capped at 10 min, less up to 20 % so retries do not march in step."""
    nominal = min(BACKOFF_BASE_S * BACKOFF_FACTOR ** (attempt - 1), BACKOFF_CAP_S)
    spread = random.random() if jitter is None else jitter
    return timedelta(seconds=nominal * (1 - 0.2 * spread))


def record_safely(
    database: Database, claim: Claim, error: DeliveryError | None, outcomes: Outcomes
) -> None:
    """Record an outcome; if even that fails the lease expires and the row is sent again."""
    try:
        if error is None:
            record_sent(database, claim, outcomes)
        elif error.permanent or claim.attempt >= MAX_ATTEMPTS:
            record_failure(database, claim, error, outcomes)
        else:
            record_retry(database, claim, error, outcomes)
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
    settled = rowcount(session.execute(unsynchronised(statement))) == 1
    if not settled:
        log.warning("notification %s attempt %s lost its lease", claim.id, claim.attempt)
    return settled


def record_sent(database: Database, claim: Claim, outcomes: Outcomes) -> bool:
    at = now()
    with database.write_session() as session:
        subject = outcomes.lock(session, claim)
        if not _settle(session, claim, status="sent", sent_at=at, last_error=None):
            return False
        outcomes.delivered(session, claim, subject, at)
    return True


def record_retry(
    database: Database, claim: Claim, error: DeliveryError, outcomes: Outcomes
) -> bool:
    at = now()
    log.info("notification %s attempt %s failed: %s", claim.id, claim.attempt, error.message)
    with database.write_session() as session:
        if not outcomes.still_wanted(session, claim):
            return _settle(session, claim, status="cancelled", last_error=error.message)
        retry_at = at + backoff(claim.attempt)
        settled = _settle(
            session, claim, status="pending", next_attempt_at=retry_at, last_error=error.message
        )
    wakeup.notify()  # committed above
    return settled


def record_failure(
    database: Database, claim: Claim, error: DeliveryError, outcomes: Outcomes
) -> bool:
    """1. Lock what the message is about (the order requests use) and mark the row failed.
    2. Let the layers above show the failure and fall back to the next way to reach them."""
    at = now()
    log.warning("notification %s failed for good: %s", claim.id, error.message)
    with database.write_session() as session:
        subject = outcomes.lock(session, claim)
        if not _settle(session, claim, status="failed", last_error=error.message):
            return False
        outcomes.failed(session, claim, subject, error, at)
    wakeup.notify()  # committed above
    return True
