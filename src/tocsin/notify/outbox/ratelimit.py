"""Rate limits: a contact method a person reads (email, chat) gets at most one message a
minute; what falls due sooner waits, and is bundled into the next one that goes.

Deciding "may this go now?" takes a lock on the contact method, so two engines never both
decide it is free. The lock is the outbox's own (a PostgreSQL advisory lock held until the
claim commits; SQLite has one writer at a time anyway), so the outbox needs nothing from
the table that holds contact methods but their ids.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.notify.channels import RATE_LIMIT_S
from tocsin.notify.models import Notification
from tocsin.timesource import as_utc

WINDOW = timedelta(seconds=RATE_LIMIT_S)
LOCK_SPACE = 7301  # the first key of the outbox's advisory locks: "rate limit, contact method"


def allowed_at(session: Session, row: Notification, at: datetime) -> datetime | None:
    """When this row may be sent: `at` or later; None if another engine holds the method."""
    if not _lock_method(session, row.contact_method_id):
        return None
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
        return at + WINDOW
    last_sent = session.scalar(
        select(func.max(Notification.sent_at)).where(
            Notification.contact_method_id == row.contact_method_id,
            Notification.status == "sent",
        )
    )
    return at if last_sent is None else max(at, as_utc(last_sent) + WINDOW)


def _lock_method(session: Session, contact_method_id: int | None) -> bool:
    """Hold the method's decision lock until this transaction ends; False if another
    engine holds it (that engine decides, and this row comes round next pass)."""
    if contact_method_id is None or session.get_bind().dialect.name != "postgresql":
        return True
    locked = session.scalar(select(func.pg_try_advisory_xact_lock(LOCK_SPACE, contact_method_id)))
    return bool(locked)
