"""Fallback: when a message fails for good, reach the same person the next way they asked for.

The outbox does not know people or their notification rules: the caller passes the rule
chain to walk (`NextRule`s, in order), and this module decides, from the outbox's own rows,
whether a later rule is already on its way or must be queued now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tocsin.notify.models import Notification
from tocsin.notify.outbox.claims import Claim
from tocsin.notify.outbox.queue import KEY_LENGTH, enqueue, unsynchronised


@dataclass(frozen=True)
class NextRule:
    """One of the person's later notification rules, through another contact method."""

    position: int
    contact_method_id: int
    channel: str
    address: str
    name: str


def fall_back(
    session: Session, claim: Claim, chain: Sequence[NextRule], at: datetime
) -> str | None:
    """Reach the same person another way; say what was done (None: nothing left to try).

    1. A later rule's message is still waiting (a delayed rule): send it now.
    2. A later rule's message went out after this one was queued: the person was reached.
    3. Otherwise queue a message for the first rule of `chain`.
    """
    later = _later_rule_rows(session, claim)
    waiting = [row for row in later if row.status == "pending"]
    if waiting:
        return _pull_forward(session, waiting[0], at)
    for row in later:
        if row.status == "sending" or (row.sent_at and row.sent_at >= claim.created_at):
            return f"{row.channel} (rule {row.rule_position}), already {row.status}"
    return _queue_next_rule(session, claim, chain)


def position(claim: Claim) -> int:
    return -1 if claim.rule_position is None else claim.rule_position


def _later_rule_rows(session: Session, claim: Claim) -> list[Notification]:
    """This person's messages about this incident for later rules, through other methods."""
    query = (
        select(Notification)
        .where(
            Notification.incident_id == claim.incident_id,
            Notification.person_id == claim.person_id,
            Notification.purpose == claim.purpose,
            Notification.rule_position > position(claim),
            Notification.contact_method_id.is_distinct_from(claim.contact_method_id),
            Notification.status.in_(("pending", "sending", "sent")),
        )
        .order_by(Notification.rule_position, Notification.id)
    )
    return list(session.scalars(query))


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
    session.execute(unsynchronised(statement))
    return f"{row.channel} (rule {row.rule_position}), sending now"


def _queue_next_rule(session: Session, claim: Claim, chain: Sequence[NextRule]) -> str | None:
    if not chain:
        return None
    rule = chain[0]
    enqueue(
        session,
        idempotency_key=fallback_key(claim.idempotency_key, rule.position),
        purpose=claim.purpose,
        channel=rule.channel,
        address=rule.address,
        subject=claim.subject,
        body=claim.body,
        data={**claim.data, "fallback_from": claim.id},
        incident_id=claim.incident_id,
        person_id=claim.person_id,
        contact_method_id=rule.contact_method_id,
        rule_position=rule.position,
    )
    return f"{rule.channel} {rule.name!r} (rule {rule.position}), sending now"


def fallback_key(idempotency_key: str, position: int) -> str:
    """Derived from the failed row's key, so a retried outcome queues the fallback once."""
    key = f"{idempotency_key}/fallback-{position}"
    if len(key) <= KEY_LENGTH:
        return key
    return f"fallback-{position}-{sha256(idempotency_key.encode()).hexdigest()}"
