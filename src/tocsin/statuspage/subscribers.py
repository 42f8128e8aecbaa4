"""Subscribers: email with double opt-in and a one-click unsubscribe, and webhooks.

Every message to a subscriber is an outbox row (purpose `status`), so it is retried with
backoff like any page; a delivery that fails for good is kept on the subscriber
(`last_error`) and listed for the admin (`failures`), never dropped silently. A subscriber who
chose components hears only about updates that concern one of them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput, NotFound
from tocsin.notify.models import Notification
from tocsin.notify.outbox import enqueue
from tocsin.statuspage import service
from tocsin.statuspage.models import PublicIncident, PublicUpdate, Subscriber
from tocsin.statuspage.statuses import words
from tocsin.timesource import now

PURPOSE = "status"
KINDS = ("email", "webhook")
EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


@dataclass(frozen=True)
class Links:
    """Where a subscriber's links point: the page, and the subscription pages under it."""

    base_url: str
    page_name: str

    def manage(self, token: str, action: str) -> str:
        return f"{self.base_url}/status/subscriptions/{token}/{action}"

    def incident(self, code: str) -> str:
        return f"{self.base_url}/status/incidents/{code}"


def subscribe(
    session: Session,
    *,
    kind: str,
    address: str,
    components: Sequence[str],
    links: Links,
    confirmed: bool = False,
) -> Subscriber:
    """A new subscription (or a renewed one for the same address). Email is confirmed by a
    link sent to it; a webhook set up by an admin (`confirmed`) is live at once."""
    address = _address(kind, address)
    chosen = _components(session, components)
    row = session.scalar(
        select(Subscriber).where(
            Subscriber.kind == kind,
            Subscriber.address == address,
            Subscriber.unsubscribed_at.is_(None),
        )
    )
    if row is None:
        row = Subscriber(kind=kind, address=address, created_at=now(), delivered=0)
        session.add(row)
    row.components = chosen
    row.token = secrets.token_urlsafe(24)
    if confirmed and row.confirmed_at is None:
        row.confirmed_at = now()
    session.flush()
    if row.confirmed_at is None:
        _ask_to_confirm(session, row, links)
    return row


def confirm(session: Session, *, token: str) -> Subscriber:
    row = by_token(session, token)
    if row.confirmed_at is None:
        row.confirmed_at = now()
    return row


def unsubscribe(session: Session, *, token: str) -> Subscriber:
    row = by_token(session, token)
    if row.unsubscribed_at is None:
        row.unsubscribed_at = now()
    return row


def remove(session: Session, *, subscriber_id: int) -> Subscriber:
    row = session.get(Subscriber, subscriber_id)
    if row is None:
        raise NotFound(f"no subscriber {subscriber_id}", field="id")
    if row.unsubscribed_at is None:
        row.unsubscribed_at = now()
    return row


def by_token(session: Session, token: str) -> Subscriber:
    row = session.scalar(select(Subscriber).where(Subscriber.token == token))
    if row is None or row.unsubscribed_at is not None:
        raise NotFound("this subscription link is not valid (any more)", field="token")
    return row


def listed(session: Session) -> list[Subscriber]:
    return list(session.scalars(select(Subscriber).order_by(Subscriber.id)))


def failures(session: Session, *, limit: int = 100) -> list[Notification]:
    """Messages to subscribers that failed for good, newest first."""
    query = select(Notification).where(
        Notification.purpose == PURPOSE, Notification.status == "failed"
    )
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def announce(session: Session, *, row: PublicIncident, entry: PublicUpdate, links: Links) -> int:
    """Queue the update for every confirmed subscriber it concerns; the number queued."""
    concerned = set(row.components) | {a["code"] for a in entry.affected}
    count = 0
    for subscriber in _live(session):
        if subscriber.components and not concerned & set(subscriber.components):
            continue
        count += _queue_update(session, subscriber, row, entry, links)
    return count


def delivered(session: Session, subscriber_id: int) -> None:
    session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(delivered=Subscriber.delivered + 1, last_error=None, last_error_at=None)
        .execution_options(synchronize_session=False)
    )


def failed(session: Session, subscriber_id: int, error: str, at: datetime) -> None:
    session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(last_error=error, last_error_at=at)
        .execution_options(synchronize_session=False)
    )


def _live(session: Session) -> list[Subscriber]:
    query = select(Subscriber).where(
        Subscriber.confirmed_at.is_not(None), Subscriber.unsubscribed_at.is_(None)
    )
    return list(session.scalars(query.order_by(Subscriber.id)))


def _ask_to_confirm(session: Session, row: Subscriber, links: Links) -> None:
    confirm_url = links.manage(row.token, "confirm")
    body = (
        f"Someone (we hope you) asked to hear about {links.page_name}'s status at this "
        f"address.\n\nConfirm the subscription:\n{confirm_url}\n\n"
        "If it was not you, ignore this message: nothing will be sent without confirmation."
    )
    enqueue(
        session,
        idempotency_key=f"status:confirm:{row.id}:{row.token[:16]}",
        purpose=PURPOSE,
        channel="email",
        address=row.address,
        subject=f"Confirm your subscription to {links.page_name} status",
        body=body,
        data={"subscriber": row.id},
    )


def _queue_update(
    session: Session, subscriber: Subscriber, row: PublicIncident, entry: PublicUpdate, links: Links
) -> int:
    unsubscribe_url = links.manage(subscriber.token, "unsubscribe")
    subject = f"[{links.page_name}] {row.name}: {words(entry.status)}"
    names = ", ".join(a["name"] for a in entry.affected)
    body = (
        f"{row.name}\n{words(entry.status)}: {entry.body}\n\n"
        + (f"Affected: {names}\n\n" if names else "")
        + f"Follow it: {links.incident(row.code)}\n\n"
        f"Unsubscribe: {unsubscribe_url}"
    )
    created = enqueue(
        session,
        idempotency_key=f"status:update:{entry.id}:{subscriber.id}",
        purpose=PURPOSE,
        channel=subscriber.kind,
        address=subscriber.address,
        subject=subject,
        body=body,
        data={
            "subscriber": subscriber.id,
            "list_unsubscribe": unsubscribe_url,
            "statuspage": _webhook_payload(row, entry, links, unsubscribe_url),
        },
    )
    return int(created)


def _webhook_payload(
    row: PublicIncident, entry: PublicUpdate, links: Links, unsubscribe_url: str
) -> dict[str, Any]:
    """Statuspage's incident webhook body, in short."""
    return {
        "meta": {"unsubscribe": unsubscribe_url, "generated_at": entry.created_at.isoformat()},
        "page": {"name": links.page_name, "url": f"{links.base_url}/status"},
        "incident": {
            "id": row.code,
            "name": row.name,
            "status": row.status,
            "impact": row.impact,
            "shortlink": links.incident(row.code),
            "scheduled_for": row.scheduled_for.isoformat() if row.scheduled_for else None,
            "scheduled_until": row.scheduled_until.isoformat() if row.scheduled_until else None,
            "incident_updates": [
                {
                    "status": entry.status,
                    "body": entry.body,
                    "created_at": entry.created_at.isoformat(),
                }
            ],
            "affected_components": entry.affected,
        },
    }


def _address(kind: str, address: str) -> str:
    if kind not in KINDS:
        raise InvalidInput(
            f"unknown kind {kind!r}; allowed: {', '.join(KINDS)}", field="kind", allowed=KINDS
        )
    address = address.strip()
    if kind == "email" and not EMAIL.match(address):
        raise InvalidInput(f"{address!r} is not an email address", field="email")
    if kind == "webhook" and not address.startswith(("https://", "http://")):
        raise InvalidInput("a webhook is an http:// or https:// URL", field="address")
    return address.lower() if kind == "email" else address


def _components(session: Session, chosen: Sequence[str]) -> list[str]:
    known = [c.slug for c in service.components(session)]
    for slug in chosen:
        if slug not in known:
            raise InvalidInput(
                f"unknown component {slug!r}; allowed: {', '.join(known) or 'none'}",
                field="components",
                allowed=known,
            )
    return list(dict.fromkeys(chosen))
