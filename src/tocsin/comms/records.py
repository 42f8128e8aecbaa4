"""An incident's communications, as its people and auditors ask for them: every message
the communication tree, updates, reminders and notices sent, with who it was for and what
became of it (from the outbox rows, which hold the outcome)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.incidents.models import TimelineEvent
from tocsin.incidents.schemas import UnreachedOut
from tocsin.notify.channels import mask_address
from tocsin.notify.models import Notification

# The outbox's states, as a person reads a message's: still going, out, or not delivered.
STATUS = {
    "pending": "pending",
    "sending": "pending",
    "sent": "sent",
    "bundled": "sent",
    "failed": "failed",
    "cancelled": "cancelled",
}


@dataclass(frozen=True)
class Communication:
    id: int
    key: str
    kind: str  # stage, update, reminder, breach, started, prompt, unreached, page
    stage: str | None
    audience: list[str]
    recipient: str | None
    channel: str
    address: str
    template: str | None
    subject: str
    status: str  # pending, sent, failed, cancelled
    attempts: int
    queued_at: datetime
    sent_at: datetime | None
    error: str | None


def communications(
    session: Session, incident_id: str, *, pages: bool = True
) -> list[Communication]:
    """Every message about the incident, oldest first; pages too unless `pages` is False."""
    query = select(Notification).where(Notification.incident_id == incident_id)
    if not pages:
        query = query.where(Notification.purpose != "page")
    return [_of(row) for row in session.scalars(query.order_by(Notification.id))]


def unreached(session: Session, incident_id: str) -> list[UnreachedOut]:
    """What reached nobody, from the timeline: messages with problems, steps that paged
    nobody. The fallback contact was told of each."""
    events = session.scalars(
        select(TimelineEvent)
        .where(
            TimelineEvent.incident_id == incident_id,
            TimelineEvent.kind.in_(("message_queued", "page_failed")),
        )
        .order_by(TimelineEvent.seq)
    )
    return [
        UnreachedOut(at=e.at, what=str(e.data.get("key")), problems=list(e.data["problems"]))
        for e in events
        if e.data.get("problems") and e.data.get("kind") != "unreached"
    ]


def of_stage(session: Session, incident_id: str, key: str) -> list[Notification]:
    """The outbox rows of one communication (a stage's messages), to see if all are out."""
    rows = session.scalars(
        select(Notification).where(
            Notification.incident_id == incident_id, Notification.purpose != "page"
        )
    )
    return [row for row in rows if (row.data.get("comms") or {}).get("key") == key]


def _of(row: Notification) -> Communication:
    tag = row.data.get("comms") or {}
    page = row.purpose == "page"
    return Communication(
        id=row.id,
        key=str(tag.get("key") or row.data.get("step") or ""),
        kind="page" if page else str(tag.get("kind") or row.purpose),
        stage=tag.get("stage"),
        audience=list(tag.get("audience") or []),
        recipient=tag.get("recipient") or row.data.get("person"),
        channel=row.channel,
        address=mask_address(row.address),
        template=tag.get("template"),
        subject=row.subject,
        status=STATUS.get(row.status, row.status),
        attempts=row.attempts,
        queued_at=row.created_at,
        sent_at=row.sent_at,
        error=row.last_error if row.status == "failed" else None,
    )
