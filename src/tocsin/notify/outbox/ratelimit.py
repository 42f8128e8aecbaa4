"""Rate limits: a contact method a person reads (email, chat) gets at most one message a
minute; what falls due sooner waits, and is bundled into the next one that goes. A named
channel with a `per_minute` setting gets at most that many a minute; the rest wait their
turn, each still its own message (a channel is read by many, so nothing is bundled).

Deciding "may this go now?" takes a lock on the contact method, so two engines never both
decide it is free. The lock is the outbox's own (a PostgreSQL advisory lock held until the
claim commits; SQLite has one writer at a time anyway), so the outbox needs nothing from
the table that holds contact methods but their ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.notify import sealed
from tocsin.notify.channels import NAMED_PREFIX, RATE_LIMIT_S, named
from tocsin.notify.models import NamedChannel, Notification
from tocsin.timesource import as_utc

WINDOW = timedelta(seconds=RATE_LIMIT_S)
LOCK_SPACE = 7301  # the first key of the outbox's advisory locks: "rate limit, contact method"
CHANNEL_LOCK_SPACE = 7302  # "rate limit, named channel" (keyed by a hash of its address)


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


@dataclass(frozen=True)
class ChannelLimits:
    """The `per_minute` of each named channel that the rows of one claim pass go to."""

    per_minute: dict[str, int]

    @classmethod
    def of(cls, session: Session, rows: Iterable[Notification]) -> ChannelLimits:
        names = {name for row in rows if (name := named(row.address)) is not None}
        if not names:
            return cls({})
        found = {}
        for channel in session.scalars(select(NamedChannel).where(NamedChannel.name.in_(names))):
            limit = sealed.open_config(session, channel.config).get("per_minute")
            if limit:
                found[f"{NAMED_PREFIX}{channel.name}"] = int(limit)
        return cls(found)

    def allowed_at(self, session: Session, row: Notification, at: datetime) -> datetime | None:
        """When this row may go to its channel: `at` if the channel has room this minute, else
        when the oldest message of the minute leaves the window; None if another engine is
        deciding for the channel."""
        limit = self.per_minute.get(row.address)
        if limit is None:
            return at
        if not _lock_channel(session, row.address):
            return None
        recent = list(
            session.scalars(
                select(Notification.sent_at)
                .where(
                    Notification.address == row.address,
                    Notification.status == "sent",
                    Notification.address.like(f"{NAMED_PREFIX}%"),
                    Notification.sent_at > at - WINDOW,
                )
                .order_by(Notification.sent_at)
                .limit(limit)
            )
        )
        # Rows this pass (or a live engine) already took are on their way: they count too.
        in_flight = session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.address == row.address,
                Notification.status == "sending",
                Notification.lease_until >= at,
                Notification.id != row.id,
            )
        )
        if len(recent) + int(in_flight or 0) < limit:
            return at
        oldest = as_utc(recent[0]) if recent and recent[0] is not None else at
        return max(oldest + WINDOW, at + WINDOW / limit)


def _lock_channel(session: Session, address: str) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True
    key = func.hashtext(address)
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(CHANNEL_LOCK_SPACE, key))))
