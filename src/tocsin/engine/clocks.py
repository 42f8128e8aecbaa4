"""The engine step that acts on due clocks: warn before the due time, breach or fire at it.

What a clock does is its kind's handler's business (tocsin.incidents.clock_registry); this
step only finds what is due and runs it, exactly once, with any number of engines:
1. Read a batch of due clock ids (the partial index makes this cost what is due, not what
   exists), grouped by subject.
2. Several subjects share one transaction, each under a savepoint of its own: lock the
   subject's row (skipping it if another engine or a request holds it; it comes round again
   next pass), re-check each clock is still pending and due, then hand it to its kind's
   handler. The handler's state change, its timeline event and any message it queues commit
   together, so a crash leaves either all or none; a subject whose handler fails rolls back
   to its savepoint alone and is retried next pass, while the others commit.
3. A pass ends after `SLICE_S` even with more due, so that in a burst the engine's other
   steps (the outbox) take their turn and the first pages leave while the rest still fire.
Locking the subject before its clocks is the same order requests use, and a subject held
elsewhere is skipped rather than waited for, so engines and requests never deadlock.

The lookups a handler repeats for every subject (which service, policy, schedule, person,
rules) are remembered for the length of one transaction (`tocsin.db.remember`), so a burst
resolves them once per transaction, not once per step.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime

from sqlalchemy import ColumnClause, func, literal_column, select
from sqlalchemy.orm import Session

from tocsin.db import Database, enable_memo
from tocsin.incidents.clock_registry import ClockRegistry
from tocsin.incidents.models import Clock
from tocsin.timesource import as_utc, now

log = logging.getLogger("tocsin.engine.clocks")
BATCH = 250  # due clocks read per pass
SUBJECTS_PER_TRANSACTION = 50
TRANSACTION_S = 0.1  # a transaction takes no new subject after this long (SQLite's lock)
SLICE_S = 0.2  # a pass takes no new transaction after this long: the outbox's turn

# A literal, not a bound parameter: PostgreSQL can then match the partial index
# ix_clocks_pending_next_check (WHERE state = 'pending') in generic plans too
# (plan_cache_mode=force_generic_plan, or a pooler that prepares statements).
PENDING: ColumnClause[str] = literal_column("'pending'")

Subject = tuple[str, str]  # (subject_type, subject_id)


class ClockStep:
    name = "clocks"

    def __init__(self, registry: ClockRegistry) -> None:
        self.registry = registry

    def run_due(self, database: Database, deadline: float | None = None) -> int:
        """Settle what is due; stop taking new subjects once `deadline` (monotonic) passes.

        Given a deadline (the engine's loop always gives one), a pass also ends once it has
        run for SLICE_S and settled something: what is left is still due next pass, and the
        loop runs the other steps in between. Without one, it settles the whole batch."""
        at = now()
        with database.read_session() as session:
            due = list(_due_batch(session, at).items())
        handled = 0
        turn_ends = time.monotonic() + SLICE_S
        while due:
            if deadline is not None:
                clock_now = time.monotonic()
                if clock_now > deadline or (handled and clock_now > turn_ends):
                    break
            handled += self._settle_some(database, due, at)
        return handled

    def next_due(self, database: Database) -> datetime | None:
        with database.read_session() as session:
            query = select(func.min(Clock.next_check_at)).where(Clock.state == PENDING)
            value: datetime | None = session.scalar(query)
        return None if value is None else as_utc(value)

    def _settle_some(
        self, database: Database, due: list[tuple[Subject, list[int]]], at: datetime
    ) -> int:
        """Take subjects off the front of `due` and settle them in one transaction, each under
        a savepoint; the count of clocks acted on once it committed (0 if the commit failed)."""
        handled = 0
        taken: list[Subject] = []
        try:
            with database.write_session() as session:
                enable_memo(session)
                until = time.monotonic() + TRANSACTION_S
                while due and len(taken) < SUBJECTS_PER_TRANSACTION:
                    if taken and time.monotonic() > until:
                        break
                    subject, clock_ids = due.pop(0)
                    taken.append(subject)
                    try:
                        with session.begin_nested():
                            handled += self._settle_subject(session, subject, clock_ids, at)
                    except Exception:
                        log.exception(
                            "could not settle clocks %s of %s %s; will retry", clock_ids, *subject
                        )
        except Exception:
            log.exception("could not commit the clocks of %d subjects; will retry", len(taken))
            return 0
        return handled

    def _settle_subject(
        self, session: Session, subject: Subject, clock_ids: list[int], at: datetime
    ) -> int:
        locked = self.registry.lock(session, *subject)
        if locked is None:
            return 0  # someone else holds it; next pass
        clocks = session.scalars(
            select(Clock).where(
                Clock.id.in_(clock_ids), Clock.state == PENDING, Clock.next_check_at <= at
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
        .where(Clock.state == PENDING, Clock.next_check_at <= at)
        .order_by(Clock.next_check_at)
        .limit(BATCH)
    )
    grouped: dict[Subject, list[int]] = defaultdict(list)
    for clock_id, subject_type, subject_id in rows:
        grouped[(subject_type, subject_id)].append(clock_id)
    return grouped
