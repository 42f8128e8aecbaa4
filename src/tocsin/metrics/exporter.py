"""The Prometheus exporter behind `GET /metrics`: figures read from the database (so every
serving process answers alike), a few grouped COUNTs, cached for a few seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session

from tocsin import timesource
from tocsin.alerts.models import Alert, Integration
from tocsin.db import Database
from tocsin.incidents.models import Clock, Incident
from tocsin.notify.models import Notification

SETTLED_STATES = ("resolved", "closed")
CACHE_SECONDS = 5.0


@dataclass
class Snapshot:
    """The figures of one scrape."""

    open_incidents: dict[str, int] = field(default_factory=dict)
    clocks_breached: dict[str, int] = field(default_factory=dict)
    notifications: dict[tuple[str, ...], int] = field(default_factory=dict)
    alerts: dict[tuple[str, ...], int] = field(default_factory=dict)
    engine_lag_seconds: float = 0.0


def snapshot(session: Session, *, at: datetime) -> Snapshot:
    return Snapshot(
        open_incidents=_open_incidents(session),
        clocks_breached=_grouped(session, Clock.kind, Clock.state == "breached"),
        notifications={
            (channel, status): count
            for channel, status, count in session.execute(
                select(Notification.channel, Notification.status, func.count())
                .where(Notification.status.in_(("sent", "failed")))
                .group_by(Notification.channel, Notification.status)
            )
        },
        alerts={
            (name, kind): int(total or 0)
            for name, kind, total in session.execute(
                select(Integration.name, Integration.kind, func.sum(Alert.count))
                .join(Alert, Alert.integration_id == Integration.id)
                .group_by(Integration.name, Integration.kind)
            )
        },
        engine_lag_seconds=_engine_lag(session, at),
    )


def _open_incidents(session: Session) -> dict[str, int]:
    drill = Incident.flags["drill"].as_boolean()
    return _grouped(
        session,
        Incident.severity,
        Incident.status.not_in(SETTLED_STATES),
        or_(drill.is_(None), drill == false()),
    )


def _grouped(session: Session, column: object, *where: object) -> dict[str, int]:
    query = select(column, func.count()).where(*where).group_by(column)  # type: ignore[call-overload]
    return {key: count for key, count in session.execute(query)}


def _engine_lag(session: Session, at: datetime) -> float:
    """How far behind the engine is: now minus the oldest pending clock or message that is
    due (0 when nothing due waits). Both reads use the partial indexes on pending rows."""
    oldest_clock = session.scalar(
        select(func.min(Clock.next_check_at)).where(
            Clock.state == "pending", Clock.next_check_at <= at
        )
    )
    oldest_message = session.scalar(
        select(func.min(Notification.next_attempt_at)).where(
            Notification.status == "pending", Notification.next_attempt_at <= at
        )
    )
    due = [value for value in (oldest_clock, oldest_message) if value is not None]
    return max((at - min(due)).total_seconds(), 0.0) if due else 0.0


class TocsinCollector(Collector):
    """Turns a snapshot into metric families, reading the database at most every few
    seconds per process."""

    def __init__(self, database: Database, *, cache_seconds: float = CACHE_SECONDS) -> None:
        self.database, self.cache_seconds = database, cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, Snapshot] | None = None

    def current(self) -> Snapshot:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] >= self.cache_seconds:
                with self.database.read_session() as session:
                    self._cached = (time.monotonic(), snapshot(session, at=timesource.now()))
            return self._cached[1]

    def collect(self) -> Iterator[Metric]:
        figures = self.current()
        yield _gauge(
            "tocsin_incidents_open",
            "Open incidents (drills left out), by severity.",
            ["severity"],
            {(k,): v for k, v in figures.open_incidents.items()},
        )
        yield _counter(
            "tocsin_clocks_breached",
            "Clocks that came due unmet, by kind.",
            ["kind"],
            {(k,): v for k, v in figures.clocks_breached.items()},
        )
        yield _counter(
            "tocsin_notifications",
            "Outbox messages sent or failed, by channel.",
            ["channel", "status"],
            figures.notifications,
        )
        yield _counter(
            "tocsin_alerts_ingested",
            "Alert deliveries taken in (repeats of an open alert included), by integration.",
            ["integration", "kind"],
            figures.alerts,
        )
        lag = GaugeMetricFamily(
            "tocsin_engine_lag_seconds",
            "Now minus the oldest pending clock or outbox message that is due (0 if none).",
        )
        lag.add_metric([], figures.engine_lag_seconds)
        yield lag


def _gauge(
    name: str, documentation: str, labels: list[str], values: dict[tuple[str, ...], int]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def _counter(
    name: str, documentation: str, labels: list[str], values: dict[tuple[str, ...], int]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def registry_for(database: Database, *, cache_seconds: float = CACHE_SECONDS) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TocsinCollector(database, cache_seconds=cache_seconds))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The Prometheus text format of every figure."""
    return generate_latest(registry)
