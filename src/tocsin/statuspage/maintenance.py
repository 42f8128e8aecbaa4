"""Scheduled maintenance on the clock engine: it starts on time and, unless told otherwise,
completes on time. Two clock kinds about a maintenance (subject `maintenance`), declared and
handled here; the engine runs them like any other clock (tocsin.engine.steps)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.db import wakeup
from tocsin.incidents.clock_registry import ClockRegistry
from tocsin.incidents.models import Clock
from tocsin.policy.clock_kinds import ClockKind, OnDue, declare, declared
from tocsin.statuspage import service, subscribers
from tocsin.statuspage.models import PublicIncident
from tocsin.timesource import now

SUBJECT = "maintenance"
ACTOR = "tocsin"


def _kind(key: str, noun: str) -> ClockKind:
    existing = next((k for k in declared() if k.key == key), None)
    made = ClockKind(
        key, subject=SUBJECT, domain="statuspage", noun=noun, on_due=OnDue.FIRE, warns=False
    )
    return existing or declare(made)


START = _kind("maintenance_start", "maintenance start")
END = _kind("maintenance_end", "maintenance end")

STARTED = "Scheduled maintenance is in progress. We will provide updates as necessary."
COMPLETED = "The scheduled maintenance has been completed."


def plan(session: Session, row: PublicIncident) -> list[Clock]:
    """Start and end clocks for a maintenance window (the end only if it completes itself)."""
    assert row.scheduled_for is not None and row.scheduled_until is not None
    wanted = [(START, row.scheduled_for, f"Start maintenance {row.name}")]
    if row.auto_complete:
        wanted.append((END, row.scheduled_until, f"Complete maintenance {row.name}"))
    clocks = [_clock(row, kind, due, label) for kind, due, label in wanted]
    session.add_all(clocks)
    session.flush()
    wakeup.after_commit(session)
    return clocks


def cancel(session: Session, row: PublicIncident) -> None:
    """The maintenance ended by hand: its clocks are no longer needed."""
    query = select(Clock).where(
        Clock.subject_type == SUBJECT, Clock.subject_id == str(row.id), Clock.state == "pending"
    )
    at = now()
    for clock in session.scalars(query):
        clock.state, clock.settled_at = "cancelled", at


def _clock(row: PublicIncident, kind: ClockKind, due: datetime, label: str) -> Clock:
    return Clock(
        subject_type=SUBJECT,
        subject_id=str(row.id),
        incident_id=None,
        kind=kind.key,
        key=kind.key,
        action="notify",
        label=label,
        targets=[],
        stop_on=None,
        state="pending",
        starts_at=now(),
        due_at=due,
        next_check_at=due,
    )


def lock_maintenance(session: Session, subject_id: str) -> PublicIncident | None:
    query = (
        select(PublicIncident)
        .where(PublicIncident.id == int(subject_id))
        .with_for_update(skip_locked=True)
    )
    return session.scalar(query)


class MaintenanceClocks:
    """Start: scheduled -> in_progress. End: in_progress or verifying -> completed. Each
    posts the update Statuspage posts and tells the subscribers."""

    def __init__(self, links: subscribers.Links) -> None:
        self.links = links

    def warn(self, session: Session, subject: PublicIncident, clock: Clock, at: datetime) -> None:
        clock.next_check_at = clock.due_at  # these kinds never warn

    def due(self, session: Session, subject: PublicIncident, clock: Clock, at: datetime) -> None:
        clock.state, clock.settled_at = "fired", at
        if clock.kind == START.key and subject.status == "scheduled":
            self._move(session, subject, "in_progress", STARTED)
        elif clock.kind == END.key and subject.status in ("scheduled", "in_progress", "verifying"):
            self._move(session, subject, "completed", COMPLETED)

    def _move(self, session: Session, row: PublicIncident, status: str, message: str) -> None:
        entry = service.post_update(session, row=row, status=status, message=message, actor=ACTOR)
        subscribers.announce(session, row=row, entry=entry, links=self.links)


def register(registry: ClockRegistry, *, links: subscribers.Links) -> None:
    registry.subject(SUBJECT, lock_maintenance)
    registry.handle([START, END], MaintenanceClocks(links))
