"""Store a delivery of alerts: deduplicate, route, silence. Part of one transaction.

The hot path is set-based: one upsert for every trigger in the delivery, one update for every
resolve. What the delivery means for incidents (open one, join one, tell one that its
alerts resolved) is decided by tocsin.flows.intake, which calls `store()` first. No ORM objects are
built for alerts, so a batch of a hundred costs a handful of statements, not hundreds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from tocsin.alerts.kinds import KINDS
from tocsin.alerts.models import Alert, Integration, Silence
from tocsin.alerts.normalized import AlertEvent, IncomingAlert, IngestResult
from tocsin.alerts.routing import Route, Router, group_key
from tocsin.alerts.silences import SILENCES_KEY
from tocsin.alerts.upsert import upsert
from tocsin.policy.loader import LoadedPolicy
from tocsin.timesource import now

ALERTS = cast(Table, Alert.__table__)
SAMPLE = 20  # how many dedup keys a timeline event lists before it just counts
# A sender's test notification reaches nobody: it only shows that the sender reaches Tocsin.
TEST_ROUTE = Route("ignore", "", None, "test notification: resolved at once", ())


@dataclass(frozen=True)
class Delivery:
    """Everything ingest needs to know about where a batch came from."""

    integration: Integration
    loaded: LoadedPolicy

    @property
    def actor(self) -> str:
        return f"integration:{self.integration.name}"

    @property
    def by_labels(self) -> bool:
        """Does the integration's kind group by labels when the sender gives no group?"""
        kind = KINDS.get(self.integration.kind)
        return kind is not None and kind.groups_by_labels


@dataclass
class Stored:
    """What storing a delivery did to the alerts, for the flow that tells incidents."""

    result: IngestResult
    new_alerts: list[NewAlert]  # inserted by this delivery
    repeated: list[NewAlert]  # open alerts triggered again, routed to page and not silenced
    closed: list[ClosedAlert]  # resolved by this delivery
    acknowledged_incidents: list[str]  # incidents with an alert acknowledged at the source


def store(session: Session, *, delivery: Delivery, alerts: Sequence[IncomingAlert]) -> Stored:
    """1. Keep the last event per dedup key. 2. Upsert triggers (routed, silenced), an
    alert without a severity taking the integration's default. 3. Close resolves, and test
    notifications at once. 4. Mark acknowledgements. Incidents are the caller's business
    (tocsin.flows.intake)."""
    result = IngestResult(dedup_keys=[a.dedup_key for a in alerts])
    latest = _last_event_per_key(alerts)
    at = now()
    triggers = [a for a in latest if a.event is AlertEvent.TRIGGER]
    new_alerts, repeated = _upsert_triggers(session, delivery, triggers, at, result)
    resolves = [a.dedup_key for a in latest if a.event is AlertEvent.RESOLVE]
    resolves += [a.dedup_key for a in triggers if a.test_notification]  # resolved at once
    closed = _close(session, delivery, resolves, at, result)
    acks = [a.dedup_key for a in latest if a.event is AlertEvent.ACKNOWLEDGE]
    acknowledged = _acknowledge(session, delivery, acks, at, result)
    return Stored(result, new_alerts, repeated, closed, acknowledged)


def _last_event_per_key(alerts: Iterable[IncomingAlert]) -> list[IncomingAlert]:
    latest: dict[str, IncomingAlert] = {}
    for alert in alerts:
        latest.pop(alert.dedup_key, None)  # re-insert so order follows the last event
        latest[alert.dedup_key] = alert
    return list(latest.values())


@dataclass(slots=True)  # not frozen: one per new alert, and frozen ones cost 3x to build
class NewAlert:
    id: int
    dedup_key: str
    summary: str
    group_key: str
    route: Route
    suppressed: bool
    incident_id: str | None = None  # a repeat's incident, if it has one


@dataclass(frozen=True, slots=True)
class ClosedAlert:
    id: int
    incident_id: str | None
    dedup_key: str


def _bound_time(session: Session, at: datetime) -> Any:
    """`at` exactly as SQLAlchemy stores it, so rows written here and by the ORM compare
    alike (naive UTC text on SQLite, timestamptz on PostgreSQL)."""
    dialect = session.get_bind().dialect
    processor = ALERTS.c.last_seen_at.type.dialect_impl(dialect).bind_processor(dialect)
    return processor(at) if processor else at


def _row(
    delivery: Delivery, alert: IncomingAlert, routed: Route, silence: int | None
) -> tuple[Any, ...]:
    """The alert's values in upsert.VARYING order."""
    return (
        alert.dedup_key,
        alert.summary[:2000],
        alert.source_severity,
        routed.severity or None,
        routed.service,
        routed.action,
        routed.rule,
        silence,
        alert.labels,
        alert.details,
        group_key(alert, routed, delivery.integration.id, by_labels=delivery.by_labels),
    )


def _upsert_triggers(
    session: Session,
    delivery: Delivery,
    triggers: list[IncomingAlert],
    at: datetime,
    result: IngestResult,
) -> tuple[list[NewAlert], list[NewAlert]]:
    """The new alerts, and the repeats that page (their incident decides what that means)."""
    if not triggers:
        return [], []
    router = Router(delivery.loaded.policy, _routing_context(delivery))
    silences = _active_silences(session, at)
    default_severity = delivery.integration.default_severity
    rows, routes = [], {}
    # Sorted, so concurrent deliveries lock the same rows in the same order (no deadlock).
    for alert in sorted(triggers, key=lambda a: a.dedup_key):
        if alert.source_severity is None:
            alert.source_severity = default_severity
        routed = TEST_ROUTE if alert.test_notification else router.route(alert)
        routes[alert.dedup_key] = routed
        silence = _silencing(silences, routed, alert) if silences else None
        rows.append(_row(delivery, alert, routed, silence))
    new_rows, repeated = [], []
    for row in upsert(session, delivery.integration.id, _bound_time(session, at), rows):
        routed = routes[row.dedup_key]
        silenced = row.suppressed_by is not None
        stored = NewAlert(
            row.id, row.dedup_key, row.summary, row.group_key, routed, silenced, row.incident_id
        )
        if row.seen == 1:  # only an insert leaves the count at one
            result.created.append(row.id)
            new_rows.append(stored)
        else:
            result.updated.append(row.id)
            if routed.action == "page" and not silenced:
                repeated.append(stored)
    return new_rows, repeated


def _routing_context(delivery: Delivery) -> dict[str, str | None]:
    integration = delivery.integration
    return {
        "integration": integration.name,
        "integration_kind": integration.kind,
        "service": integration.service,
    }


def _active_silences(session: Session, at: datetime) -> list[Silence]:
    """Silences in force, read once per transaction: the intake writer stores many
    deliveries in one, milliseconds apart, and silences do not change inside it."""
    cached: list[Silence] | None = session.info.get(SILENCES_KEY)
    if cached is None:
        query = select(Silence).where(
            Silence.starts_at <= at, Silence.ends_at > at, Silence.cancelled.is_(False)
        )
        cached = session.info[SILENCES_KEY] = list(session.scalars(query))
    return cached


def _silencing(silences: list[Silence], routed: Route, alert: IncomingAlert) -> int | None:
    for silence in silences:
        if silence.service and silence.service != routed.service:
            continue
        if all(alert.labels.get(k) == v for k, v in silence.matchers.items()):
            return silence.id
    return None


def _close(
    session: Session, delivery: Delivery, keys: list[str], at: datetime, result: IngestResult
) -> list[ClosedAlert]:
    if not keys:
        return []
    stmt = (
        update(ALERTS)
        .where(
            ALERTS.c.integration_id == delivery.integration.id,
            ALERTS.c.status == "firing",
            ALERTS.c.dedup_key.in_(sorted(keys)),
        )
        .values(status="resolved", resolved_at=at, last_seen_at=at)
        .returning(ALERTS.c.id, ALERTS.c.incident_id, ALERTS.c.dedup_key)
    )
    closed = [ClosedAlert(r.id, r.incident_id, r.dedup_key) for r in session.execute(stmt)]
    result.resolved.extend(c.id for c in closed)
    result.ignored_resolves += len(keys) - len(closed)
    return closed


def _acknowledge(
    session: Session, delivery: Delivery, keys: list[str], at: datetime, result: IngestResult
) -> list[str]:
    if not keys:
        return []
    stmt = (
        update(ALERTS)
        .where(
            ALERTS.c.integration_id == delivery.integration.id,
            ALERTS.c.status == "firing",
            ALERTS.c.dedup_key.in_(keys),
            ALERTS.c.acknowledged_at.is_(None),
        )
        .values(acknowledged_at=at)
        .returning(ALERTS.c.id, ALERTS.c.incident_id)
    )
    rows = list(session.execute(stmt))
    result.acknowledged.extend(r.id for r in rows)
    return sorted({r.incident_id for r in rows if r.incident_id})
