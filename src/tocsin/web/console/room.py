"""What the incident room shows beyond the incident itself: its alerts, every page and message
sent for it, who is being paged, and its escalation steps as one ladder.

Read-only views over other domains' tables, for the console only (the API has its own).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.alerts.models import Alert, Integration
from tocsin.incidents.models import TimelineEvent
from tocsin.incidents.schemas import ClockOut
from tocsin.notify.channels import mask_address
from tocsin.notify.models import Notification
from tocsin.oncall.models import ContactMethod, Person

ALERTS_SHOWN = 50
MESSAGES_SHOWN = 200
ON_CALL_ROLE = "on_call_engineer"  # the role id every bundled policy uses for who is paged


@dataclass(frozen=True)
class AttachedAlert:
    id: int
    summary: str
    status: str
    integration: str
    service: str | None
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
    labels: dict[str, Any]
    annotations: dict[str, Any]


def _annotations(details: dict[str, Any]) -> dict[str, Any]:
    """Alertmanager keeps annotations apart; other senders' details are their annotations."""
    nested = details.get("annotations")
    if isinstance(nested, dict):
        return nested
    return {k: v for k, v in details.items() if isinstance(v, str | int | float | bool)}


def attached_alerts(session: Session, incident_id: str) -> list[AttachedAlert]:
    rows = session.execute(
        select(Alert, Integration.name)
        .join(Integration, Integration.id == Alert.integration_id)
        .where(Alert.incident_id == incident_id)
        .order_by(Alert.id.desc())
        .limit(ALERTS_SHOWN)
    )
    return [
        AttachedAlert(
            id=alert.id,
            summary=alert.summary,
            status=alert.status,
            integration=name,
            service=alert.service,
            count=alert.count,
            first_seen_at=alert.first_seen_at,
            last_seen_at=alert.last_seen_at,
            labels=dict(alert.labels or {}),
            annotations=_annotations(dict(alert.details or {})),
        )
        for alert, name in rows
    ]


@dataclass(frozen=True)
class Message:
    """One page or message: to whom, how, and what became of it."""

    id: int
    purpose: str
    recipient: str
    method: str | None
    channel: str
    address: str
    status: str
    attempts: int
    error: str | None
    at: datetime
    sent_at: datetime | None

    @property
    def outcome(self) -> str:
        if self.status == "sent":
            return "delivered"
        if self.status == "failed":
            return f"failed: {self.error or 'unknown error'}"
        if self.status == "bundled":
            return "bundled into another message"
        retry = f" (attempt {self.attempts + 1}; last error: {self.error})" if self.error else ""
        return f"{self.status}{retry}"


def _names(session: Session, model: Any, label: Any, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(model.id, label).where(model.id.in_(wanted)))
    return {int(key): str(name) for key, name in rows}


def messages(session: Session, incident_id: str) -> list[Message]:
    rows = list(
        session.scalars(
            select(Notification)
            .where(Notification.incident_id == incident_id)
            .order_by(Notification.id.desc())
            .limit(MESSAGES_SHOWN)
        )
    )
    people = _names(session, Person, Person.handle, (n.person_id for n in rows))
    methods = _names(
        session, ContactMethod, ContactMethod.name, (n.contact_method_id for n in rows)
    )
    return [
        Message(
            id=n.id,
            purpose=n.purpose,
            recipient=people.get(n.person_id or 0) or str(n.data.get("audience") or "—"),
            method=methods.get(n.contact_method_id or 0),
            channel=n.channel,
            address=mask_address(n.address),
            status=n.status,
            attempts=n.attempts,
            error=n.last_error,
            at=n.created_at,
            sent_at=n.sent_at,
        )
        for n in rows
    ]


def paged_people(session: Session, incident_id: str) -> list[str]:
    """Everyone the escalation steps have paged so far, first paged first."""
    events = session.scalars(
        select(TimelineEvent.data)
        .where(TimelineEvent.incident_id == incident_id, TimelineEvent.kind == "paged")
        .order_by(TimelineEvent.seq)
    )
    seen: dict[str, None] = {}
    for data in events:
        for person in [*data.get("people", []), *data.get("already_paged", {})]:
            seen.setdefault(str(person), None)
    return list(seen)


@dataclass
class Rung:
    """One rung of the ladder: every step due at one instant, whichever ladder it came from."""

    due_at: datetime
    clocks: list[ClockOut] = field(default_factory=list)

    @property
    def targets(self) -> list[str]:
        return list(dict.fromkeys(t for c in self.clocks for t in c.targets))

    @property
    def state(self) -> str:
        states = {c.state for c in self.clocks}
        return "pending" if "pending" in states else "fired" if "fired" in states else min(states)

    @property
    def first(self) -> ClockOut:
        pending = [c for c in self.clocks if c.state == "pending"]
        return (pending or self.clocks)[0]


def ladder(escalations: Sequence[ClockOut]) -> list[Rung]:
    """The escalation steps as one ladder in time order. The runbook's matrix and the
    service's escalation policy both page at the same instants; each instant is one rung."""
    rungs: dict[datetime, Rung] = {}
    for clock in sorted(escalations, key=lambda c: (c.due_at, c.key)):
        rungs.setdefault(clock.due_at, Rung(clock.due_at)).clocks.append(clock)
    return list(rungs.values())
