"""`GET /api/v1/metrics` over incidents run through the API, and the Prometheus scrape."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import Api
from tocsin.alerts import integrations
from tocsin.alerts.models import Alert
from tocsin.db import Database
from tocsin.incidents.models import Clock
from tocsin.notify.models import Notification
from tocsin.notify.outbox.queue import enqueue

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[time_machine.Traveller]:
    monkeypatch.delenv("TOCSIN_SMTP_URL", raising=False)
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def _run_incident(api: Api, clock: time_machine.Traveller, ack_s: int, resolve_s: int) -> str:
    clock.move_to(T0)
    incident_id = str(api.declare(severity="P1", services=["checkout"])["id"])
    clock.shift(timedelta(seconds=ack_s))
    assert api.post(f"/api/v1/incidents/{incident_id}/acknowledge", {}).status_code == 200
    clock.shift(timedelta(seconds=resolve_s - ack_s))
    body = {"status": "resolved", "message": "Fixed"}
    response = api.post(f"/api/v1/incidents/{incident_id}/status", body)
    assert response.status_code == 200, response.text
    return incident_id


def test_metrics_over_a_quarter_of_real_incidents(api: Api, clock: time_machine.Traveller) -> None:
    _run_incident(api, clock, ack_s=120, resolve_s=3600)
    _run_incident(api, clock, ack_s=240, resolve_s=1800)
    response = api.get("/api/v1/metrics", params={"from": "2026-Q4", "to": "2026-Q4"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["from"].startswith("2026-10-01T00:00:00")
    assert body["to"].startswith("2027-01-01T00:00:00")
    assert body["incidents"] == 2
    assert body["mtta_seconds"] == 180
    assert body["mttr_seconds"] == 2700
    assert body["clocks_met_ratio"]["acknowledge"] == 1.0
    assert [s["severity"] for s in body["severity_distribution"]] == ["P0", "P1", "P2", "P3"]
    assert "mttr" in body["definitions"]


def test_filters_and_an_empty_answer_is_null(api: Api, clock: time_machine.Traveller) -> None:
    _run_incident(api, clock, ack_s=60, resolve_s=600)
    body = api.get("/api/v1/metrics", params={"period": "2026-11", "severity": "P0"}).json()
    assert body["incidents"] == 0
    assert body["mtta_seconds"] is None and body["follow_through"]["review_on_time_rate"] is None
    assert api.get("/api/v1/metrics", params={"period": "2026-W45"}).json()["incidents"] == 1


@pytest.mark.parametrize("field", ["from", "to"])
def test_a_bad_bound_is_a_422_naming_the_field_with_examples(api: Api, field: str) -> None:
    response = api.get("/api/v1/metrics", params={field: "last tuesday"})
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == field
    assert "2026-Q4" in error["allowed"] and "2026-Q4" in response.json()["message"]


def test_to_before_from_is_refused(api: Api) -> None:
    response = api.get("/api/v1/metrics", params={"from": "2026-12-01", "to": "2026-11-01"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "to"


def test_metrics_need_a_token(api: Api) -> None:
    assert api.client.get("/api/v1/metrics").status_code == 401


def _scrape(api: Api) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_prometheus_scrape_reads_the_database(
    api: Api, database: Database, clock: time_machine.Traveller
) -> None:
    api.declare(severity="P0")
    api.declare(severity="P1")
    api.declare(severity="P1", flags={"drill": True})
    with database.write_session() as session:
        integration, _key = integrations.create(
            session, name="prometheus prod", kind="alertmanager", actor="test"
        )
        session.add(
            Alert(
                integration_id=integration.id,
                dedup_key="a",
                status="firing",
                action="page",
                count=3,
                first_seen_at=T0,
                last_seen_at=T0,
            )
        )
        for n, (channel, status) in enumerate(
            [("email", "sent"), ("email", "sent"), ("webhook", "failed")]
        ):
            enqueue(
                session,
                idempotency_key=f"metrics-{n}",
                purpose="notify",
                channel=channel,
                address="x@example.com",
                subject="s",
                body="b",
            )
            session.flush()
            row = session.query(Notification).filter_by(idempotency_key=f"metrics-{n}").one()
            row.status = status
        first = session.query(Clock).filter(Clock.kind == "acknowledge").first()
        assert first is not None
        first.state = "breached"
    clock.shift(timedelta(minutes=10))  # every pending clock now overdue by the engine
    found = _scrape(api)
    assert found["tocsin_incidents_open"][(("severity", "P0"),)] == 1
    assert found["tocsin_incidents_open"][(("severity", "P1"),)] == 1  # the drill left out
    assert found["tocsin_clocks_breached_total"][(("kind", "acknowledge"),)] == 1
    notifications = found["tocsin_notifications_total"]
    assert notifications[(("channel", "email"), ("status", "sent"))] >= 2
    assert notifications[(("channel", "webhook"), ("status", "failed"))] == 1
    alerts = found["tocsin_alerts_ingested_total"]
    assert alerts[(("integration", "prometheus prod"), ("kind", "alertmanager"))] == 3
    assert found["tocsin_engine_lag_seconds"][()] > 0


def test_an_empty_database_scrapes_with_no_lag(api: Api) -> None:
    found = _scrape(api)
    assert found["tocsin_engine_lag_seconds"][()] == 0
    assert "tocsin_incidents_open" not in found
