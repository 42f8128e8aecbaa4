"""What other domains call: queue a message, stop the ones not yet sent, list the failures."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Update, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tocsin.db import upsert_insert, wakeup
from tocsin.errors import InvalidInput
from tocsin.notify import channels
from tocsin.notify.models import Notification
from tocsin.timesource import now

PURPOSES = ("page", "notify", "update", "status")
KEY_LENGTH = 300


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
    return rowcount(session.execute(unsynchronised(statement)))


def failures_for(session: Session, incident_id: str) -> list[Notification]:
    """Messages about this incident that could not be delivered, oldest first."""
    query = select(Notification).where(
        Notification.incident_id == incident_id, Notification.status == "failed"
    )
    return list(session.scalars(query.order_by(Notification.id)))


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


def rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def unsynchronised(statement: Update) -> Update:
    # The outbox never edits loaded rows in place: every change is a conditional UPDATE.
    return statement.execution_options(synchronize_session=False)
