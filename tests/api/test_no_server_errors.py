"""No input gets a 500: every bad id, body, text and time gets a 4xx that names the field (or
the body) and what is allowed. Each case is one a fuzzer or a careless sender produced
(SQLite and PostgreSQL; NUL characters were a 500 on PostgreSQL only)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api

TOO_BIG = 2**64  # over any id a database holds
OVER_32_BITS = 2**31  # over PostgreSQL's integer ids (a fuzzer found 53769126653)


def integration_key(api: Api, kind: str) -> str:
    response = api.post("/api/v1/integrations", {"name": f"{kind}-1", "kind": kind}, role="admin")
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def named(response: Any, field: str) -> None:
    assert 400 <= response.status_code < 500, response.text
    errors = response.json()["errors"]
    assert errors, "a 4xx names what was wrong"
    assert any(field in e["field"] for e in errors), errors


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("POST", f"/api/v1/integrations/{TOO_BIG}/rotate-key", "integration_id"),
        ("DELETE", f"/api/v1/integrations/{TOO_BIG}", "integration_id"),
        ("DELETE", f"/api/v1/silences/{TOO_BIG}", "silence_id"),
        ("DELETE", f"/api/v1/schedules/primary/overrides/{TOO_BIG}", "override_id"),
        ("GET", f"/api/v1/alerts?cursor={TOO_BIG}", "cursor"),
        ("GET", f"/api/v1/alerts?integration={TOO_BIG}", "integration"),
        ("GET", f"/api/v1/incidents?cursor={TOO_BIG}", "cursor"),
        ("POST", f"/api/v1/integrations/{OVER_32_BITS}/rotate-key", "integration_id"),
        ("GET", f"/api/v1/alerts?cursor={OVER_32_BITS}", "cursor"),
    ],
)
def test_an_id_over_64_bits_is_refused(api: Api, method: str, path: str, field: str) -> None:
    response = api.client.request(method, path, headers=api.headers("admin"))
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == field


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("kind", ["generic", "pagerduty", "opsgenie"])
def test_deeply_nested_json_is_refused(api: Api, kind: str) -> None:
    key = integration_key(api, kind)
    body = '{"summary": "x", "details": ' + nested(20_000) + "}"
    paths = {
        "generic": (f"/api/v1/integrations/{key}/generic", {}),
        "pagerduty": ("/v2/enqueue", {}),
        "opsgenie": ("/v2/alerts", {"Authorization": f"GenieKey {key}"}),
    }
    path, headers = paths[kind]
    response = api.client.post(
        path, content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert "nest" in response.text


def test_a_lone_surrogate_is_refused_on_pagerduty_intake(api: Api) -> None:
    key = integration_key(api, "pagerduty")
    body = (
        '{"routing_key": "' + key + '", "event_action": "trigger",'
        ' "payload": {"summary": "\\ud800 down", "source": "db", "severity": "critical"}}'
    )
    response = api.client.post(
        "/v2/enqueue", content=body, headers={"Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert "surrogate" in response.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/incidents", {"title": "Checkout\u0000down", "severity": "P1"}),
        ("generic", {"summary": "disk\u0000full", "labels": {"alertname": "Disk"}}),
        ("generic", {"summary": "disk full", "labels": {"alert\u0000name": "Disk"}}),
    ],
)
def test_nul_characters_are_refused(api: Api, path: str, body: dict[str, Any]) -> None:
    if path == "generic":
        path = f"/api/v1/integrations/{integration_key(api, 'generic')}/generic"
    response = api.post(path, body)
    assert 400 <= response.status_code < 500, response.text
    assert "NUL" in response.text


def test_nul_in_a_pagerduty_summary_is_refused(api: Api) -> None:
    key = integration_key(api, "pagerduty")
    event = {
        "routing_key": key,
        "event_action": "trigger",
        "payload": {"summary": "db\u0000down", "source": "db", "severity": "critical"},
    }
    response = api.client.post("/v2/enqueue", json=event)
    assert 400 <= response.status_code < 500, response.text
    assert "NUL" in response.text


def test_a_time_that_overflows_when_made_utc_is_refused(api: Api) -> None:
    response = api.post(
        "/api/v1/incidents",
        {"title": "Late", "severity": "P1", "detected_at": "9999-12-31T23:59:59-23:59"},
    )
    named(response, "detected_at")
    incident = api.declare()
    response = api.post(
        f"/api/v1/incidents/{incident['id']}/status",
        {"status": "identified", "message": "x", "at": "0001-01-01T00:00:00+14:00"},
    )
    named(response, "at")
    far = api.get("/api/v1/oncall", params={"at": "9999-12-31T23:59:59Z"})
    assert far.status_code == 200, far.text  # the last instant Tocsin keeps is a valid question


def test_a_4xx_always_names_what_was_wrong(api: Api) -> None:
    named(api.client.get("/api/v1/incidents"), "authorization")
    named(api.get("/api/v1/incidents/INC-nope"), "id")
    named(api.client.patch("/api/v1/incidents", headers=api.headers()), "method")
    named(api.get("/api/v1/nothing-here"), "path")


def test_a_nul_in_a_console_form_is_refused(api: Api) -> None:
    response = api.client.post(
        "/console/incidents",
        content=b"title=Checkout%00down&severity=P1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert "NUL" in response.json()["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/alerts?service=check%00out",
        "/api/v1/incidents/INC%00-1",
        "/api/v1/alerts?status=%00",
    ],
)
def test_a_nul_in_an_address_is_refused(api: Api, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "path"


def test_an_alertmanager_start_that_is_not_a_time_is_refused(api: Api) -> None:
    key = integration_key(api, "alertmanager")
    payload = {
        "version": "4",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "Disk"}, "startsAt": "garbage"}],
    }
    response = api.client.post(f"/api/v1/integrations/{key}/alertmanager", json=payload)
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert error["field"] == "alerts.0.startsAt"
