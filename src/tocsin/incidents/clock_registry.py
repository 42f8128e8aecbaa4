"""The clock registry: for each declared clock kind, the handler its owning domain registered,
and for each subject, how to lock it. The engine's clock step knows only this.

A handler is called in the engine's transaction, with the clock's subject locked:
- `warn` when the warning time comes (only for kinds that warn);
- `due` when the due time comes: it settles the clock (breached, or fired) and does
  whatever the kind does then (page the step's targets, notify an audience).
The state change, its timeline event and every message queued commit together.

This module registers the incidents domain's own handler: deadlines that are recorded on the
incident's timeline when warned about and when breached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.incidents import timeline
from tocsin.incidents.chain import format_instant
from tocsin.incidents.clocks import ENGINE_ACTOR, SUBJECT, settle
from tocsin.incidents.models import Clock, Incident
from tocsin.policy.clock_kinds import ClockKind, declared, kind_of


class ClockHandler(Protocol):
    def warn(self, session: Session, subject: Any, clock: Clock, at: datetime) -> None:
        """Tell people before the clock is due."""
        ...

    def due(self, session: Session, subject: Any, clock: Clock, at: datetime) -> None:
        """The due time came: settle the clock and act."""
        ...


# Locks a subject for change, skipping it (None) if another engine or a request holds it.
LockSubject = Callable[[Session, str], Any]


class UnhandledClockKind(LookupError):
    pass


@dataclass
class ClockRegistry:
    handlers: dict[str, ClockHandler] = field(default_factory=dict)
    subjects: dict[str, LockSubject] = field(default_factory=dict)

    def handle(self, kinds: Iterable[ClockKind], handler: ClockHandler) -> None:
        for kind in kinds:
            self.handlers[kind.key] = handler

    def subject(self, name: str, lock: LockSubject) -> None:
        self.subjects[name] = lock

    def handler_for(self, clock_kind: str) -> ClockHandler:
        kind = kind_of(clock_kind)
        handler = self.handlers.get(kind.key)
        if handler is None:
            raise UnhandledClockKind(
                f"no handler registered for clock kind {kind.key!r} (owned by {kind.domain})"
            )
        return handler

    def lock(self, session: Session, subject_type: str, subject_id: str) -> Any:
        lock = self.subjects.get(subject_type)
        if lock is None:
            raise UnhandledClockKind(f"no way to lock clock subject {subject_type!r}")
        return lock(session, subject_id)


def lock_incident(session: Session, incident_id: str) -> Incident | None:
    """The incident row, locked; None if someone else holds it (it comes round next pass)."""
    query = select(Incident).where(Incident.id == incident_id).with_for_update(skip_locked=True)
    return session.scalar(query)


class ClockNotices(Protocol):
    """Tells people about a clock ("reminder" before it is due, "breach" when it is missed);
    the communications domain implements it, and the engine passes it in."""

    def tell(self, session: Session, incident: Incident, clock: Clock, kind: str) -> None: ...


class RecordOnTimeline:
    """The incidents domain's handler: warnings and breaches go on the incident's timeline,
    and, given `notices`, to the people who owe the clock."""

    def __init__(self, notices: ClockNotices | None = None) -> None:
        self.notices = notices

    def warn(self, session: Session, subject: Incident, clock: Clock, at: datetime) -> None:
        """Record the warning, then look again at the due time."""
        clock.warned_at = at
        clock.next_check_at = clock.due_at
        minutes_left = max(0, round((clock.due_at - at).total_seconds() / 60))
        timeline.append(
            session,
            incident=subject,
            kind="clock_warning",
            actor=ENGINE_ACTOR,
            at=at,
            data={
                "key": clock.key,
                "kind": clock.kind,
                "label": clock.label,
                "due_at": format_instant(clock.due_at),
                "minutes_left": minutes_left,
                "targets": clock.targets,
            },
        )
        if self.notices is not None:
            self.notices.tell(session, subject, clock, "reminder")

    def due(self, session: Session, subject: Incident, clock: Clock, at: datetime) -> None:
        settle(session, incident=subject, clock=clock, state="breached", at=at, actor=ENGINE_ACTOR)
        if self.notices is not None:
            self.notices.tell(session, subject, clock, "breach")


def register(registry: ClockRegistry, notices: ClockNotices | None = None) -> RecordOnTimeline:
    """Incidents as clock subjects, and the handler for the kinds this domain owns."""
    registry.subject(SUBJECT, lock_incident)
    owned = [kind for kind in declared() if kind.domain == "incidents"]
    handler = RecordOnTimeline(notices)
    registry.handle(owned, handler)
    return handler
