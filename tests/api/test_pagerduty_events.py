"""PagerDuty Events v2 as PagerDuty answers it: errors in its shape (an unknown routing key
included), Retry-After on 429, timestamps validated, and change events recorded and shown on
the incidents they may explain (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.conftest import Api
from tests.api.test_alert_intake import alerts, create_integration, pd_event
from tocsin.alerts.ratelimit import TokenBuckets

UNKNOWN = "0123456789abcdef0123456789abcdef"


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


def change(key: str, summary: str = "Deploy checkout v2.4.1", **payload: Any) -> dict[str, Any]:
    return {
        "routing_key": key,
        "payload": {"summary": summary, "source": "ci.example.com", **payload},
        "links": [{"href": "https://ci.example.com/builds/812", "text": "Build 812"}],
    }


def test_an_unknown_routing_key_is_400_invalid_event_as_pagerduty_answers(api: Api) -> None:
    for path, body in (("/v2/enqueue", pd_event(UNKNOWN)), ("/v2/change/enqueue", change(UNKNOWN))):
        response = api.client.post(path, json=body)
        assert response.status_code == 400, path
        assert response.json() == {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": ["Invalid routing key"],
        }


def test_429_says_when_to_retry(api: Api) -> None:
    api.client.app.state.intake_writer.limiter = TokenBuckets(rate_per_second=0.001, burst=2)  # type: ignore[attr-defined]
    key = create_integration(api, "pagerduty")["key"]
    api.client.post("/v2/enqueue", json=pd_event(key))
    api.client.post("/v2/change/enqueue", json=change(key))
    for path, body in (("/v2/enqueue", pd_event(key)), ("/v2/change/enqueue", change(key))):
        throttled = api.client.post(path, json=body)
        assert throttled.status_code == 429, path
        assert throttled.headers["Retry-After"] == "1"
        assert throttled.json()["status"] == "throttle event"


def test_a_timestamp_that_is_not_a_time_is_refused_naming_it(api: Api) -> None:
    key = create_integration(api, "pagerduty")["key"]
    for bad in ("yesterday", "2026-13-01T00:00:00Z", 1700000000, "9999-12-31T23:59:59-23:59"):
        event = pd_event(key)
        event["payload"]["timestamp"] = bad
        response = api.client.post("/v2/enqueue", json=event)
        assert response.status_code == 400, bad
        [error] = response.json()["errors"]
        assert error.startswith("'payload.timestamp' must be an ISO 8601 time"), error
    assert alerts(api) == []
    good = pd_event(key)
    good["payload"]["timestamp"] = "2026-11-22T09:12:00.315+0000"  # PagerDuty's own example form
    assert api.client.post("/v2/enqueue", json=good).status_code == 202


def test_a_repeat_trigger_updates_the_alerts_severity(api: Api) -> None:
    key = create_integration(api, "pagerduty")["key"]
    for severity in ("warning", "critical"):
        event = pd_event(key, dedup_key="queue-lag")
        event["payload"]["severity"] = severity
        assert api.client.post("/v2/enqueue", json=event).status_code == 202
    [alert] = alerts(api)
    assert (alert["source_severity"], alert["severity"], alert["action"]) == (
        "critical",
        "P0",
        "page",
    )
    assert alert["count"] == 2 and alert["incident_id"]


def test_a_change_event_is_answered_as_pagerduty_does_and_listed(api: Api) -> None:
    integration = create_integration(api, "pagerduty", service="checkout")
    response = api.client.post(
        "/v2/change/enqueue",
        json=change(integration["key"], timestamp=ago(minutes=5), custom_details={"sha": "9f2"}),
    )
    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["message"]) == ("success", "Change event processed")
    assert alerts(api) == []  # it pages nobody
    [listed] = api.get("/api/v1/changes", params={"service": "checkout"}).json()
    assert listed["summary"] == "Deploy checkout v2.4.1"
    assert (listed["source"], listed["service"]) == ("ci.example.com", "checkout")
    assert listed["integration"] == integration["name"]
    assert listed["links"] == [{"href": "https://ci.example.com/builds/812", "text": "Build 812"}]
    assert listed["custom_details"] == {"sha": "9f2"}
    assert str(listed["id"]) == body["id"]
    assert api.get("/api/v1/changes", params={"service": "search"}).json() == []
    assert api.get("/api/v1/changes", params={"integration": integration["id"]}).json()


def test_a_bad_change_event_lists_every_bad_field(api: Api) -> None:
    key = create_integration(api, "pagerduty")["key"]
    response = api.client.post(
        "/v2/change/enqueue",
        json={
            "routing_key": key,
            "payload": {"timestamp": "soon", "custom_details": "a string"},
            "links": [{"href": "javascript:alert(1)"}],
        },
    )
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["message"]) == ("invalid event", "Event object is invalid")
    assert body["errors"] == [
        "'payload.summary' is missing or blank",
        "'payload.timestamp' must be an ISO 8601 time such as 2026-11-22T09:12:00.000+0000",
        "'payload.custom_details' must be an object",
        "'links.0.href' must be an http or https URL of at most 2048 characters",
    ]
    missing = api.client.post("/v2/change/enqueue", json={"routing_key": key})
    assert missing.json()["errors"] == ["'payload' is missing or not an object"]
    assert api.get("/api/v1/changes").json() == []


def test_an_incident_shows_the_changes_that_overlap_it(api: Api) -> None:
    """Changes of its integration or its services, from 4 hours (the default lookback) before
    it began; not older ones, and not another service's."""
    checkout = create_integration(api, "pagerduty", service="checkout")
    payments = create_integration(api, "pagerduty", service="payments")
    post = api.client.post
    assert post("/v2/change/enqueue", json=change(checkout["key"], timestamp=ago(hours=1)))
    post("/v2/change/enqueue", json=change(checkout["key"], "Old deploy", timestamp=ago(hours=5)))
    post("/v2/change/enqueue", json=change(payments["key"], "Payments flag flipped"))
    post("/v2/enqueue", json=pd_event(checkout["key"], dedup_key="checkout-5xx"))
    [alert] = alerts(api)
    incident = api.get(f"/api/v1/incidents/{alert['incident_id']}").json()
    assert [c["summary"] for c in incident["changes"]] == ["Deploy checkout v2.4.1"]
    # An incident declared by hand for a service shows that service's changes.
    declared = api.declare(services=["payments"])
    assert [c["summary"] for c in declared["changes"]] == ["Payments flag flipped"]
    # And a change during an open incident joins what it shows.
    post("/v2/change/enqueue", json=change(checkout["key"], "Rollback to v2.4.0"))
    incident = api.get(f"/api/v1/incidents/{alert['incident_id']}").json()
    assert [c["summary"] for c in incident["changes"]] == [
        "Rollback to v2.4.0",
        "Deploy checkout v2.4.1",
    ]
