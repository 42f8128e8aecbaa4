"""Appending to and reading an incident's timeline. The only code that writes events."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.incidents.chain import (
    ChainBreak,
    canonical_event,
    find_break,
    link_hash,
    row_break,
    state_digest,
)
from tocsin.incidents.models import Incident, TimelineEvent


def append(
    session: Session,
    *,
    incident: Incident,
    kind: str,
    actor: str,
    at: datetime,
    data: Mapping[str, Any] | None = None,
) -> TimelineEvent:
    """Add one event at the head of the chain.

    The caller holds the incident row locked (see service.lock), so the head cannot move
    underneath us; the unique (incident_id, seq) constraint is the backstop.
    """
    payload = dict(data or {})
    seq = incident.last_event_seq + 1
    state = state_digest(incident)
    canonical = canonical_event(
        incident_id=incident.id, seq=seq, kind=kind, at=at, actor=actor, data=payload, state=state
    )
    event = TimelineEvent(
        incident_id=incident.id,
        seq=seq,
        kind=kind,
        at=at,
        actor=actor,
        data=payload,
        prev_hash=incident.last_event_hash,
        hash=link_hash(incident.last_event_hash, canonical),
        state_hash=state,
    )
    session.add(event)
    incident.last_event_seq = seq
    incident.last_event_hash = event.hash
    return event


def events(session: Session, incident_id: str) -> list[TimelineEvent]:
    query = select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
    return list(session.scalars(query.order_by(TimelineEvent.seq)))


def count(session: Session, incident_id: str, *, kind: str) -> int:
    query = select(func.count()).where(
        TimelineEvent.incident_id == incident_id, TimelineEvent.kind == kind
    )
    return int(session.scalar(query) or 0)


def verify_all(session: Session) -> Iterator[tuple[Incident, ChainBreak | None]]:
    """Walk every incident's chain, yielding each incident with its first break (or None)."""
    for incident in session.scalars(select(Incident).order_by(Incident.pk)):
        chain = events(session, incident.id)
        found = find_break(
            incident.id, chain, head_seq=incident.last_event_seq, head_hash=incident.last_event_hash
        )
        yield incident, found or row_break(incident.id, incident, list(chain))
