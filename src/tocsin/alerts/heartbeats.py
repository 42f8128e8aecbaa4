"""Heartbeats: a job pings Tocsin every interval; a missed ping (interval + grace) opens an
alert, routed like any other, and the next ping resolves it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tocsin.alerts.ingest import Delivery, ingest
from tocsin.alerts.integrations import heartbeat_due
from tocsin.alerts.models import Integration
from tocsin.alerts.normalized import AlertEvent, IncomingAlert, IngestResult
from tocsin.db import Database
from tocsin.incidents.chain import format_instant
from tocsin.policy.loader import LoadedPolicy
from tocsin.timesource import as_utc, now

MISSED = "heartbeat-missed"
BATCH = 100


def ping(session: Session, *, integration: Integration, loaded: LoadedPolicy) -> IngestResult:
    """Record a ping; resolve the missed-heartbeat alert if one is open."""
    integration.last_ping_at = now()
    integration.heartbeat_due_at = heartbeat_due(integration)
    resolve = IncomingAlert(dedup_key=MISSED, event=AlertEvent.RESOLVE)
    return ingest(session, delivery=Delivery(integration, loaded), alerts=[resolve])


def missed_alert(integration: Integration) -> IncomingAlert:
    since = integration.last_ping_at or integration.created_at
    return IncomingAlert(
        dedup_key=MISSED,
        event=AlertEvent.TRIGGER,
        summary=f"Heartbeat {integration.name} missed: no ping since {format_instant(since)}",
        source_severity="critical",
        service=integration.service,
        labels={"alertname": "HeartbeatMissed", "heartbeat": integration.name},
        details={
            "interval_s": integration.heartbeat_interval_s,
            "grace_s": integration.heartbeat_grace_s,
        },
    )


class HeartbeatStep:
    """Engine step: open an alert for every heartbeat whose ping is overdue, once per miss."""

    name = "heartbeats"

    def __init__(self, loaded: LoadedPolicy) -> None:
        self.loaded = loaded

    def run_due(self, database: Database) -> int:
        at = now()
        with database.read_session() as session:
            ids = list(session.scalars(_due_query(at).limit(BATCH)))
        return sum(self._miss(database, integration_id, at) for integration_id in ids)

    def _miss(self, database: Database, integration_id: int, at: datetime) -> int:
        with database.write_session() as session:
            query = _due_query(at).where(Integration.id == integration_id)
            locked = session.scalar(
                select(Integration)
                .where(Integration.id.in_(query))
                .with_for_update(skip_locked=True)
            )
            if locked is None:
                return 0  # pinged meanwhile, or another engine has it
            locked.heartbeat_due_at = None  # re-armed by the next ping
            ingest(session, delivery=Delivery(locked, self.loaded), alerts=[missed_alert(locked)])
            return 1

    def next_due(self, database: Database) -> datetime | None:
        with database.read_session() as session:
            query = select(Integration.heartbeat_due_at).where(
                Integration.heartbeat_due_at.is_not(None), Integration.deleted_at.is_(None)
            )
            value = session.scalar(query.order_by(Integration.heartbeat_due_at).limit(1))
        return as_utc(value) if value else None


def _due_query(at: datetime) -> Select[int]:
    return select(Integration.id).where(
        Integration.heartbeat_due_at <= at, Integration.deleted_at.is_(None)
    )
