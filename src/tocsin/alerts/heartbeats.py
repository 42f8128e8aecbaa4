"""Heartbeats: a job pings Tocsin every interval; a missed ping (interval + grace) opens an
alert, routed like any other, and the next ping resolves it.

This module knows the heartbeat's own bookkeeping; what a ping and a miss mean as alerts is
`alerts.kinds.heartbeat`. The alerts are delivered by tocsin.flows.intake (a ping) and the
engine's heartbeat step (a miss).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tocsin.alerts.integrations import heartbeat_due
from tocsin.alerts.kinds import heartbeat
from tocsin.alerts.models import Integration
from tocsin.alerts.normalized import IncomingAlert
from tocsin.timesource import as_utc, now

BATCH = 100


def record_ping(integration: Integration) -> IncomingAlert:
    """Note the ping and re-arm the deadline; returns the resolve for the missed alert."""
    integration.last_ping_at = now()
    integration.heartbeat_due_at = heartbeat_due(integration)
    return heartbeat.ping()


def missed_alert(integration: Integration) -> IncomingAlert:
    return heartbeat.missed(
        integration.name,
        since=integration.last_ping_at or integration.created_at,
        service=integration.service,
        interval_s=integration.heartbeat_interval_s,
        grace_s=integration.heartbeat_grace_s,
    )


def overdue(session: Session, at: datetime) -> list[int]:
    """Ids of heartbeats whose ping is overdue at `at`, a batch at a time."""
    return list(session.scalars(_due_query(at).limit(BATCH)))


def claim_miss(session: Session, integration_id: int, at: datetime) -> Integration | None:
    """Lock an overdue heartbeat and disarm it until the next ping (once per miss); None if
    it was pinged meanwhile or another engine has it."""
    query = _due_query(at).where(Integration.id == integration_id)
    locked = session.scalar(
        select(Integration).where(Integration.id.in_(query)).with_for_update(skip_locked=True)
    )
    if locked is not None:
        locked.heartbeat_due_at = None
    return locked


def next_due(session: Session) -> datetime | None:
    query = select(Integration.heartbeat_due_at).where(
        Integration.heartbeat_due_at.is_not(None), Integration.deleted_at.is_(None)
    )
    value = session.scalar(query.order_by(Integration.heartbeat_due_at).limit(1))
    return as_utc(value) if value else None


def _due_query(at: datetime) -> Select[int]:
    return select(Integration.id).where(
        Integration.heartbeat_due_at <= at, Integration.deleted_at.is_(None)
    )
