"""A database outage answers 503 with Retry-After, so senders retry instead of losing data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tocsin.config import Settings
from tocsin.db import Database
from tocsin.policy.loader import LoadedPolicy
from tocsin.web.app import create_app
from tocsin.web.deps import Runtime

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=1"


@pytest.fixture
def client_without_database(default_policy: LoadedPolicy) -> Iterator[TestClient]:
    database = Database(UNREACHABLE)
    runtime = Runtime(
        settings=Settings(database_url=UNREACHABLE), database=database, policy=default_policy
    )
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield client
    database.dispose()


def test_requests_get_503_while_the_database_is_down(client_without_database: TestClient) -> None:
    response = client_without_database.post(
        "/api/v1/incidents",
        json={"title": "x", "severity": "P1"},
        headers={"Authorization": "Bearer tcn_anything"},
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error"] == "unavailable"


def test_health_reports_the_outage(client_without_database: TestClient) -> None:
    response = client_without_database.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


def test_alert_intake_gets_503_so_the_sender_retries(client_without_database: TestClient) -> None:
    """The intake writer's transaction fails to connect: every waiting sender hears 503."""
    body = {
        "version": "4",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "Down"}}],
    }
    response = client_without_database.post("/api/v1/integrations/some-key/alertmanager", json=body)
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
