"""Store a delivery of alerts: deduplicate, route, group into incidents. One transaction.

The hot path is set-based: one upsert for every trigger in the delivery, one update for every
resolve, and per-incident work only for alerts that are new and page. No ORM objects are
built for alerts, so a batch of a hundred costs a handful of statements, not hundreds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, func, select, update
from sqlalchemy.orm import Session

from tocsin.alerts.models import Alert, AlertGroup, Integration, Silence
from tocsin.alerts.normalized import AlertEvent, IncomingAlert, IngestResult
from tocsin.alerts.routing import Route, Router, group_key
from tocsin.alerts.silences import SILENCES_KEY
from tocsin.alerts.upsert import upsert
from tocsin.incidents import service as incident_service
from tocsin.incidents import timeline
from tocsin.incidents.lifecycle import OPEN_STATUSES
from tocsin.incidents.models import Incident
from tocsin.policy.loader import LoadedPolicy
from tocsin.timesource import now

ALERTS = cast(Table, Alert.__table__)
SAMPLE = 20  # how many dedup keys a timeline event lists before it just counts


@dataclass(frozen=True)
class Delivery:
    """Everything ingest needs to know about where a batch came from."""

    integration: Integration
    loaded: LoadedPolicy

    @property
    def actor(self) -> str:
        return f"integration:{self.integration.name}"


def ingest(
    session: Session, *, delivery: Delivery, alerts: Sequence[IncomingAlert]
) -> IngestResult:
    """1. Keep the last event per dedup key. 2. Upsert triggers, close resolves, mark acks.
    3. Attach new paging alerts to an incident per group (declaring one if none is open).
    4. Tell incidents whose alerts resolved or were acknowledged at the source."""
    result = IngestResult(dedup_keys=[a.dedup_key for a in alerts])
    latest = _last_event_per_key(alerts)
    at = now()
    triggers = [a for a in latest if a.event is AlertEvent.TRIGGER]
    new_rows = _upsert_triggers(session, delivery, triggers, at, result)
    resolved = _close(
        session,
        delivery,
        [a.dedup_key for a in latest if a.event is AlertEvent.RESOLVE],
        at,
        result,
    )
    acked = _acknowledge(
        session,
        delivery,
        [a.dedup_key for a in latest if a.event is AlertEvent.ACKNOWLEDGE],
        at,
        result,
    )
    _page(session, delivery, new_rows, at, result)
    _report_resolved(session, delivery, resolved, at)
    _acknowledge_incidents(session, delivery, acked)
    return result


def _last_event_per_key(alerts: Iterable[IncomingAlert]) -> list[IncomingAlert]:
    latest: dict[str, IncomingAlert] = {}
    for alert in alerts:
        latest.pop(alert.dedup_key, None)  # re-insert so order follows the last event
        latest[alert.dedup_key] = alert
    return list(latest.values())


def _keys(alerts: list[IncomingAlert], event: AlertEvent) -> list[str]:
    return [a.dedup_key for a in alerts if a.event is event]


@dataclass(slots=True)  # not frozen: one per new alert, and frozen ones cost 3x to build
class NewAlert:
    id: int
    dedup_key: str
    summary: str
    group_key: str
    route: Route
    suppressed: bool


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
        routed.severity,
        routed.service,
        routed.action,
        routed.rule,
        silence,
        alert.labels,
        alert.details,
        group_key(alert, routed, delivery.integration.id),
    )


def _upsert_triggers(
    session: Session,
    delivery: Delivery,
    triggers: list[IncomingAlert],
    at: datetime,
    result: IngestResult,
) -> list[NewAlert]:
    if not triggers:
        return []
    router = Router(delivery.loaded.policy, _routing_context(delivery))
    silences = _active_silences(session, at)
    rows, routes = [], {}
    # Sorted, so concurrent deliveries lock the same rows in the same order (no deadlock).
    for alert in sorted(triggers, key=lambda a: a.dedup_key):
        routed = router.route(alert)
        routes[alert.dedup_key] = routed
        silence = _silencing(silences, routed, alert) if silences else None
        rows.append(_row(delivery, alert, routed, silence))
    new_rows = []
    for row in upsert(session, delivery.integration.id, _bound_time(session, at), rows):
        if row.seen == 1:  # only an insert leaves the count at one
            result.created.append(row.id)
            silenced = row.suppressed_by is not None
            routed = routes[row.dedup_key]
            new_rows.append(
                NewAlert(row.id, row.dedup_key, row.summary, row.group_key, routed, silenced)
            )
        else:
            result.updated.append(row.id)
    return new_rows


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
) -> list[tuple[int, str | None, str]]:
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
    closed = [(r.id, r.incident_id, r.dedup_key) for r in session.execute(stmt)]
    result.resolved.extend(r[0] for r in closed)
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


# -- grouping new paging alerts into incidents -----------------------------------------------


def _page(
    session: Session,
    delivery: Delivery,
    new_rows: list[NewAlert],
    at: datetime,
    result: IngestResult,
) -> None:
    groups: dict[str, list[NewAlert]] = defaultdict(list)
    for row in new_rows:
        if row.route.action == "page" and not row.suppressed:
            groups[row.group_key].append(row)
    for key, members in groups.items():
        incident = _incident_for_group(session, delivery, key, members, at)
        _attach(session, delivery, incident, members, at)
        if incident.id not in result.incidents:
            result.incidents.append(incident.id)


def _lock_group(session: Session, key: str) -> None:
    """Serialise declarations per group so two deliveries cannot open two incidents."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))


def _open_group(session: Session, key: str, since: datetime) -> AlertGroup | None:
    query = (
        select(AlertGroup)
        .join(Incident, Incident.id == AlertGroup.incident_id)
        .where(
            AlertGroup.group_key == key,
            AlertGroup.last_alert_at >= since,
            Incident.status.in_(OPEN_STATUSES),
        )
        .order_by(AlertGroup.id.desc())
        .limit(1)
    )
    return session.scalar(query)


def _incident_for_group(
    session: Session, delivery: Delivery, key: str, members: list[NewAlert], at: datetime
) -> Incident:
    _lock_group(session, key)
    window = delivery.loaded.policy.routing.group_window.amount
    group = _open_group(session, key, at - window)
    if group is not None:
        group.last_alert_at = at
        return incident_service.lock(session, group.incident_id)
    incident = _declare(session, delivery, members)
    session.add(AlertGroup(group_key=key, incident_id=incident.id, opened_at=at, last_alert_at=at))
    timeline.append(
        session,
        incident=incident,
        kind="page_requested",
        actor=delivery.actor,
        at=at,
        data={"severity": incident.severity, "rule": members[0].route.rule},
    )
    return incident


def _declare(session: Session, delivery: Delivery, members: list[NewAlert]) -> Incident:
    first = members[0]
    title = first.summary or first.dedup_key
    if len(members) > 1:
        title = f"{title} (+{len(members) - 1} more alerts)"
    declaration = incident_service.Declaration(
        title=title[:300],
        severity=first.route.severity,
        services=[first.route.service] if first.route.service else [],
        summary=f"Declared by Tocsin from {delivery.integration.kind} alerts "
        f"(rule: {first.route.rule}).",
    )
    return incident_service.declare(
        session, loaded=delivery.loaded, declaration=declaration, actor=delivery.actor
    )


def _attach(
    session: Session,
    delivery: Delivery,
    incident: Incident,
    members: list[NewAlert],
    at: datetime,
) -> None:
    ids = [m.id for m in members]
    session.execute(update(ALERTS).where(ALERTS.c.id.in_(ids)).values(incident_id=incident.id))
    keys = [m.dedup_key for m in members]
    timeline.append(
        session,
        incident=incident,
        kind="alerts_attached",
        actor=delivery.actor,
        at=at,
        data={"count": len(ids), "dedup_keys": keys[:SAMPLE], "alert_ids": ids[:SAMPLE]},
    )


# -- telling incidents what happened at the source -------------------------------------------


def _firing_left(session: Session, incident_id: str) -> int:
    query = select(func.count()).where(
        and_(ALERTS.c.incident_id == incident_id, ALERTS.c.status == "firing")
    )
    return int(session.scalar(query) or 0)


def _report_resolved(
    session: Session, delivery: Delivery, closed: list[tuple[int, str | None, str]], at: datetime
) -> None:
    by_incident: dict[str, list[str]] = defaultdict(list)
    for _alert_id, incident_id, dedup_key in closed:
        if incident_id:
            by_incident[incident_id].append(dedup_key)
    for incident_id, keys in sorted(by_incident.items()):
        incident = incident_service.lock(session, incident_id)
        left = _firing_left(session, incident_id)
        data: dict[str, Any] = {
            "count": len(keys),
            "dedup_keys": keys[:SAMPLE],
            "firing_left": left,
        }
        if left == 0 and incident.status in OPEN_STATUSES:
            # The source says it is over; a person decides whether it really is.
            data["suggestion"] = "every alert has resolved: consider moving to monitoring"
        timeline.append(
            session,
            incident=incident,
            kind="alerts_resolved",
            actor=delivery.actor,
            at=at,
            data=data,
        )


def _acknowledge_incidents(session: Session, delivery: Delivery, incident_ids: list[str]) -> None:
    for incident_id in incident_ids:
        incident = incident_service.get(session, incident_id)
        if incident.acknowledged_at is None and incident.status != "closed":
            incident_service.acknowledge(session, incident_id=incident_id, actor=delivery.actor)
