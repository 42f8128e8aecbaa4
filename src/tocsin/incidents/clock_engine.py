"""The engine step that acts on due clocks: warn before the due time, breach or fire at it.

Exactly once, with any number of engines:
1. Read a batch of due clock ids (the partial index makes this cost what is due, not what
   exists), grouped by incident.
2. Per incident, in one transaction: lock the incident row (skipping it if another engine or
   a request holds it; it comes round again next pass), re-check each clock is still pending
   and due, then settle it and append the timeline event. Settlement and event commit
   together, so a crash leaves either both or neither.
Locking the incident before its clocks is the same order requests use, so engines and
requests never deadlock.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.db import Database
from tocsin.incidents import timeline
from tocsin.incidents.chain import format_instant
from tocsin.incidents.clocks import ENGINE_ACTOR, settle
from tocsin.incidents.models import Clock, Incident
from tocsin.oncall import paging
from tocsin.timesource import as_utc, now

log = logging.getLogger("tocsin.engine.clocks")
BATCH = 250


class ClockStep:
    """`base_url` is where acknowledge links in pages point (TOCSIN_PUBLIC_URL)."""

    name = "clocks"

    def __init__(self, base_url: str = "http://127.0.0.1:8080") -> None:
        self.base_url = base_url

    def run_due(self, database: Database) -> int:
        at = now()
        with database.read_session() as session:
            due = _due_batch(session, at)
        handled = 0
        for incident_id, clock_ids in due.items():
            try:
                handled += _settle_incident(database, incident_id, clock_ids, at, self.base_url)
            except Exception:
                log.exception(
                    "could not settle clocks %s of %s; will retry", clock_ids, incident_id
                )
        return handled

    def next_due(self, database: Database) -> datetime | None:
        with database.read_session() as session:
            query = select(func.min(Clock.next_check_at)).where(Clock.state == "pending")
            value: datetime | None = session.scalar(query)
        return None if value is None else as_utc(value)


def _due_batch(session: Session, at: datetime) -> dict[str, list[int]]:
    rows = session.execute(
        select(Clock.id, Clock.incident_id)
        .where(Clock.state == "pending", Clock.next_check_at <= at)
        .order_by(Clock.next_check_at)
        .limit(BATCH)
    )
    grouped: dict[str, list[int]] = defaultdict(list)
    for clock_id, incident_id in rows:
        grouped[incident_id].append(clock_id)
    return grouped


def _lock_incident(session: Session, incident_id: str) -> Incident | None:
    query = select(Incident).where(Incident.id == incident_id).with_for_update(skip_locked=True)
    return session.scalar(query)


def _settle_incident(
    database: Database, incident_id: str, clock_ids: list[int], at: datetime, base_url: str
) -> int:
    with database.write_session() as session:
        incident = _lock_incident(session, incident_id)
        if incident is None:
            return 0  # someone else holds it; next pass
        clocks = session.scalars(
            select(Clock).where(
                Clock.id.in_(clock_ids), Clock.state == "pending", Clock.next_check_at <= at
            )
        )
        handled = 0
        for clock in clocks:
            _act(session, incident, clock, at, base_url)
            handled += 1
        return handled


def _act(session: Session, incident: Incident, clock: Clock, at: datetime, base_url: str) -> None:
    if clock.warned_at is None and clock.warn_at is not None and at < clock.due_at:
        _warn(session, incident, clock, at)
        return
    if clock.kind != "escalation":
        settle(session, incident=incident, clock=clock, state="breached", at=at, actor=ENGINE_ACTOR)
        return
    settle(session, incident=incident, clock=clock, state="fired", at=at, actor=ENGINE_ACTOR)
    # The pages are queued in this same transaction: fired and paged, or neither.
    paging.page(session, incident=incident, clock=clock, at=at, base_url=base_url)


def _warn(session: Session, incident: Incident, clock: Clock, at: datetime) -> None:
    """Tell people before a deadline is missed, then look again at the due time."""
    clock.warned_at = at
    clock.next_check_at = clock.due_at
    minutes_left = max(0, round((clock.due_at - at).total_seconds() / 60))
    timeline.append(
        session,
        incident=incident,
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
