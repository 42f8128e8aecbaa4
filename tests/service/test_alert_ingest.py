"""Ingest on a real database: concurrent deliveries, silences and heartbeats (both databases)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import func, select

from tocsin.alerts import integrations, silences
from tocsin.alerts.ingest import Delivery
from tocsin.alerts.models import Alert, Integration
from tocsin.alerts.normalized import AlertEvent, IncomingAlert
from tocsin.db import Database
from tocsin.engine.heartbeats import HeartbeatStep
from tocsin.flows import intake
from tocsin.incidents.models import Incident
from tocsin.policy.loader import LoadedPolicy


def make_integration(database: Database, kind: str = "generic", **extra: object) -> Integration:
    with database.write_session() as session:
        integration, _key = integrations.create(
            session,
            name=f"{kind}-test",
            kind=kind,
            actor="admin",
            **extra,  # type: ignore[arg-type]
        )
        return integration


def deliver(
    database: Database, policy: LoadedPolicy, integration: Integration, alerts: list[IncomingAlert]
) -> None:
    with database.write_session() as session:
        intake.deliver(session, delivery=Delivery(integration, policy), alerts=alerts)


def critical(key: str, group: str | None = "storm") -> IncomingAlert:
    return IncomingAlert(
        dedup_key=key,
        event=AlertEvent.TRIGGER,
        summary=f"{key} is down",
        source_severity="critical",
        labels={"alertname": "Down"},
        group_key=group,
    )


def count(database: Database, model: type[Alert] | type[Incident], **where: object) -> int:
    with database.read_session() as session:
        query = select(func.count()).select_from(model)
        for column, value in where.items():
            query = query.where(getattr(model, column) == value)
        return int(session.scalar(query) or 0)


def test_parallel_senders_never_duplicate_an_open_alert(
    database: Database, default_policy: LoadedPolicy
) -> None:
    integration = make_integration(database)

    def send(n: int) -> None:
        keys = [f"host-{(n + i) % 10}" for i in range(10)]
        deliver(database, default_policy, integration, [critical(k) for k in keys])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, range(24)))
    assert count(database, Alert) == 10
    assert count(database, Incident) == 1  # one storm, one incident
    with database.read_session() as session:
        counts = list(session.scalars(select(Alert.count)))
    assert sum(counts) == 240


def test_a_silence_keeps_alerts_but_does_not_page(
    database: Database, default_policy: LoadedPolicy
) -> None:
    integration = make_integration(database, service="checkout")
    with database.write_session() as session:
        silences.create(
            session,
            reason="DB upgrade",
            service="checkout",
            actor="ops",
            ends_at=datetime.now(UTC) + timedelta(hours=1),
            kind="maintenance",
        )
    deliver(database, default_policy, integration, [critical("db-1")])
    with database.read_session() as session:
        alert = session.scalars(select(Alert)).one()
    assert alert.suppressed_by is not None and alert.incident_id is None
    assert count(database, Incident) == 0


def test_alerts_in_another_group_open_another_incident(
    database: Database, default_policy: LoadedPolicy
) -> None:
    integration = make_integration(database)
    deliver(database, default_policy, integration, [critical("a", group="disk")])
    deliver(database, default_policy, integration, [critical("b", group="network")])
    deliver(database, default_policy, integration, [critical("c", group="disk")])
    assert count(database, Incident) == 2


def test_a_missed_heartbeat_opens_an_alert_and_the_next_ping_resolves_it(
    database: Database, default_policy: LoadedPolicy
) -> None:
    start = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        integration = make_integration(
            database, "heartbeat", heartbeat_interval_s=300, heartbeat_grace_s=60
        )
        step = HeartbeatStep(default_policy)
        clock.shift(timedelta(minutes=5))
        assert step.run_due(database) == 0  # within interval + grace
        clock.shift(timedelta(minutes=2))
        assert step.run_due(database) == 1
        assert step.run_due(database) == 0  # once per miss
        assert count(database, Alert, status="firing") == 1
        assert count(database, Incident) == 1  # critical: it pages
        with database.write_session() as session:
            fresh = session.get(Integration, integration.id)
            assert fresh is not None
            intake.heartbeat_ping(session, integration=fresh, loaded=default_policy)
        assert count(database, Alert, status="resolved") == 1
        assert step.next_due(database) == start + timedelta(minutes=7 + 6)
