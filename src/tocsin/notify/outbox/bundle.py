"""Bundling: messages for the same address and incident that fall due within the rate-limit
window go out as one, the later ones listed under the first ("And 2 more updates: ...")."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tocsin.notify.channels import RATE_LIMIT_S
from tocsin.notify.models import Notification
from tocsin.notify.outbox.queue import unsynchronised

WINDOW = timedelta(seconds=RATE_LIMIT_S)


def with_bundle_summary(body: str, data: dict[str, Any]) -> str:
    bundled = data.get("bundled") or []
    if not bundled:
        return body
    noun = "update" if len(bundled) == 1 else "updates"
    lines = "\n".join(f"- {item['subject']}" for item in bundled)
    return f"{body}\n\nAnd {len(bundled)} more {noun}:\n{lines}"


def lock_siblings(session: Session, row: Notification, at: datetime) -> list[tuple[int, str]]:
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
            Notification.next_attempt_at <= at + WINDOW,
            Notification.id != row.id,
        )
        .order_by(Notification.next_attempt_at, Notification.id)
        .with_for_update(skip_locked=True, key_share=True)
    )
    return [(sibling_id, subject) for sibling_id, subject in session.execute(query)]


def with_bundled(data: dict[str, Any], siblings: list[tuple[int, str]]) -> dict[str, Any]:
    if not siblings:
        return data
    earlier = list(data.get("bundled") or [])
    added = [{"id": sibling_id, "subject": subject} for sibling_id, subject in siblings]
    return {**data, "bundled": earlier + added}


def mark_bundled(session: Session, sibling_ids: list[int], lead_id: int) -> None:
    if not sibling_ids:
        return
    statement = (
        update(Notification)
        .where(Notification.id.in_(sibling_ids), Notification.status == "pending")
        .values(status="bundled", bundled_into=lead_id, lease_until=None)
    )
    session.execute(unsynchronised(statement))
