"""The engine step that acts on due clocks: warn before the due time, breach or fire at it.

What a clock does is its kind's handler's business (tocsin.incidents.clock_registry); this
step only finds what is due and runs it, exactly once, with any number of engines:
1. Read a batch of due clock ids (the partial index makes this cost what is due, not what
   exists), grouped by subject.
2. Per subject, in one transaction: lock the subject's row (skipping it if another engine or
   a request holds it; it comes round again next pass), re-check each clock is still pending
   and due, then hand it to its kind's handler. The handler's state change, its timeline
   event and any message it queues commit together, so a crash leaves either all or none.
Locking the subject before its clocks is the same order requests use, so engines and
requests never deadlock.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.db import Database
from tocsin.incidents.clock_registry import ClockRegistry
from tocsin.incidents.models import Clock
from tocsin.timesource import as_utc, now

log = logging.getLogger("tocsin.engine.clocks")
BATCH = 250

Subject = tuple[str, str]  # (subject_type, subject_id)


class ClockStep:
    name = "clocks"

    def __init__(self, registry: ClockRegistry) -> None:
        self.registry = registry

    def run_due(self, database: Database, deadline: float | None = None) -> int:
        """Settle what is due; stop taking new subjects once `deadline` (monotonic) passes."""
        at = now()
        with database.read_session() as session:
            due = _due_batch(session, at)
        handled = 0
        for subject, clock_ids in due.items():
            if deadline is not None and time.monotonic() > deadline:
                break  # the rest are still due next pass
            try:
                handled += self._settle_subject(database, subject, clock_ids, at)
            except Exception:
                log.exception(
                    "could not settle clocks %s of %s %s; will retry", clock_ids, *subject
                )
        return handled

    def next_due(self, database: Database) -> datetime | None:
        with database.read_session() as session:
            query = select(func.min(Clock.next_check_at)).where(Clock.state == "pending")
            value: datetime | None = session.scalar(query)
        return None if value is None else as_utc(value)

    def _settle_subject(
        self, database: Database, subject: Subject, clock_ids: list[int], at: datetime
    ) -> int:
        with database.write_session() as session:
            locked = self.registry.lock(session, *subject)
            if locked is None:
                return 0  # someone else holds it; next pass
            clocks = session.scalars(
                select(Clock).where(
                    Clock.id.in_(clock_ids), Clock.state == "pending", Clock.next_check_at <= at
                )
            )
            handled = 0
            for clock in clocks:
                self._act(session, locked, clock, at)
                handled += 1
            return handled

    def _act(self, session: Session, subject: object, clock: Clock, at: datetime) -> None:
        handler = self.registry.handler_for(clock.kind)
        if clock.warned_at is None and clock.warn_at is not None and at < clock.due_at:
            handler.warn(session, subject, clock, at)
        else:
            handler.due(session, subject, clock, at)


def _due_batch(session: Session, at: datetime) -> dict[Subject, list[int]]:
    rows = session.execute(
        select(Clock.id, Clock.subject_type, Clock.subject_id)
        .where(Clock.state == "pending", Clock.next_check_at <= at)
        .order_by(Clock.next_check_at)
        .limit(BATCH)
    )
    grouped: dict[Subject, list[int]] = defaultdict(list)
    for clock_id, subject_type, subject_id in rows:
        grouped[(subject_type, subject_id)].append(clock_id)
    return grouped
