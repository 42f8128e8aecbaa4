"""Alert intake contracts: Alertmanager, PagerDuty Events v2 and generic JSON (both databases)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api


def create_integration(api: Api, kind: str, **extra: object) -> dict[str, Any]:
    response = api.post(
        "/api/v1/integrations", {"name": f"{kind} prod", "kind": kind, **extra}, role="admin"
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def am_alert(
    name: str, instance: str, status: str = "firing", severity: str = "critical"
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "instance": instance, "severity": severity},
        "annotations": {"summary": f"{name} on {instance}"},
        "startsAt": "2026-11-22T03:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": f"fp-{name}-{instance}",
    }


def am_payload(
    alerts: list[dict[str, Any]], group: str = '{}:{alertname="DiskFull"}'
) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": group,
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "tocsin",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }


def alerts(api: Api, **params: object) -> list[dict[str, Any]]:
    response = api.get("/api/v1/alerts", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_creating_an_integration_returns_its_key_and_urls(api: Api) -> None:
    created = create_integration(api, "alertmanager")
    assert len(created["key"]) == 32
    assert created["urls"]["webhook"].endswith(
        f"/api/v1/integrations/{created['key']}/alertmanager"
    )
    listed = api.get("/api/v1/integrations").json()
    assert [i["name"] for i in listed] == ["alertmanager prod"]
    assert listed[0]["key"] is None  # never shown again


def test_an_unknown_kind_is_refused_by_name(api: Api) -> None:
    response = api.post("/api/v1/integrations", {"name": "x", "kind": "nagios"}, role="admin")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "kind"
    assert "alertmanager" in response.json()["errors"][0]["allowed"]


def test_a_storm_of_critical_alerts_becomes_one_incident(api: Api) -> None:
    key = create_integration(api, "alertmanager")["key"]
    storm = [am_alert("DiskFull", f"db-{n}:9100") for n in range(40)]
    response = api.client.post(f"/api/v1/integrations/{key}/alertmanager", json=am_payload(storm))
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 40
    stored = alerts(api)
    assert len(stored) == 40
    incident_ids = {a["incident_id"] for a in stored}
    assert len(incident_ids) == 1 and None not in incident_ids
    incident = api.get(f"/api/v1/incidents/{incident_ids.pop()}").json()
    assert incident["severity"] == "P0"  # critical pages at the top of the ladder
    kinds = [e["kind"] for e in api.get(f"/api/v1/incidents/{incident['id']}/timeline").json()]
    assert "alerts_attached" in kinds and "page_requested" in kinds


def test_redelivery_changes_nothing_but_the_count(api: Api) -> None:
    key = create_integration(api, "alertmanager")["key"]
    payload = am_payload([am_alert("DiskFull", "db-1:9100")])
    for _ in range(3):
        assert (
            api.client.post(f"/api/v1/integrations/{key}/alertmanager", json=payload).status_code
            == 200
        )
    (alert,) = alerts(api)
    assert alert["count"] == 3
    assert len(api.get("/api/v1/incidents").json()["items"]) == 1


def test_resolving_at_the_source_resolves_and_suggests_monitoring(api: Api) -> None:
    key = create_integration(api, "alertmanager")["key"]
    url = f"/api/v1/integrations/{key}/alertmanager"
    pair = [am_alert("DiskFull", "db-1:9100"), am_alert("DiskFull", "db-2:9100")]
    api.client.post(url, json=am_payload(pair))
    api.client.post(url, json=am_payload([am_alert("DiskFull", "db-1:9100", status="resolved")]))
    api.client.post(url, json=am_payload([am_alert("DiskFull", "db-2:9100", status="resolved")]))
    stored = alerts(api)
    assert {a["status"] for a in stored} == {"resolved"}
    incident_id = stored[0]["incident_id"]
    incident = api.get(f"/api/v1/incidents/{incident_id}").json()
    assert incident["status"] == "investigating"  # a person decides
    events = api.get(f"/api/v1/incidents/{incident_id}/timeline").json()
    resolved = [e["data"] for e in events if e["kind"] == "alerts_resolved"]
    assert [r["firing_left"] for r in resolved] == [1, 0]
    assert "consider moving to monitoring" in resolved[-1]["suggestion"]


def test_a_trigger_after_resolve_opens_a_new_alert(api: Api) -> None:
    key = create_integration(api, "alertmanager")["key"]
    url = f"/api/v1/integrations/{key}/alertmanager"
    api.client.post(url, json=am_payload([am_alert("DiskFull", "db-1:9100")]))
    api.client.post(url, json=am_payload([am_alert("DiskFull", "db-1:9100", status="resolved")]))
    api.client.post(url, json=am_payload([am_alert("DiskFull", "db-1:9100")]))
    assert sorted(a["status"] for a in alerts(api)) == ["firing", "resolved"]


def test_a_warning_notifies_without_paging(api: Api) -> None:
    key = create_integration(api, "alertmanager")["key"]
    payload = am_payload([am_alert("HighLatency", "api-1", severity="warning")])
    api.client.post(f"/api/v1/integrations/{key}/alertmanager", json=payload)
    (alert,) = alerts(api)
    assert (alert["action"], alert["incident_id"]) == ("notify", None)
    assert api.get("/api/v1/incidents").json()["items"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "4"}, "alerts"),
        ({"alerts": [{"status": "burning", "labels": {}}]}, "alerts.0.status"),
        ({"alerts": [{"status": "firing"}]}, "alerts.0.labels"),
    ],
)
def test_bad_alertmanager_payloads_name_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    key = create_integration(api, "alertmanager")["key"]
    response = api.client.post(f"/api/v1/integrations/{key}/alertmanager", json=body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert alerts(api) == []


def test_malformed_json_is_400(api: Api) -> None:
    key = create_integration(api, "alertmanager")["key"]
    response = api.client.post(
        f"/api/v1/integrations/{key}/alertmanager",
        content=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body"


def test_an_unknown_key_is_404_and_says_nothing_more(api: Api) -> None:
    response = api.client.post(
        "/api/v1/integrations/0123456789abcdef0123456789abcdef/alertmanager",
        json=am_payload([am_alert("DiskFull", "db-1")]),
    )
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "unknown integration key"}


def test_a_body_over_512_kb_is_413(api: Api) -> None:
    key = create_integration(api, "alertmanager")["key"]
    big = am_payload([am_alert("DiskFull", "db-1") | {"annotations": {"summary": "x" * 600_000}}])
    response = api.client.post(f"/api/v1/integrations/{key}/alertmanager", json=big)
    assert response.status_code == 413


# -- PagerDuty Events v2 -----------------------------------------------------------------------


def pd_event(key: str, action: str = "trigger", **fields: object) -> dict[str, Any]:
    event: dict[str, Any] = {"routing_key": key, "event_action": action, **fields}
    if action == "trigger" and "payload" not in fields:
        event["payload"] = {
            "summary": "Checkout 5xx above 5%",
            "source": "lb-1",
            "severity": "critical",
            "component": "checkout",
        }
    return event


def test_pagerduty_trigger_is_answered_as_pagerduty_does(api: Api) -> None:
    key = create_integration(api, "pagerduty")["key"]
    response = api.client.post("/v2/enqueue", json=pd_event(key, dedup_key="checkout-5xx"))
    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "checkout-5xx",
    }


def test_pagerduty_generates_a_dedup_key_when_absent(api: Api) -> None:
    key = create_integration(api, "pagerduty")["key"]
    body = api.client.post("/v2/enqueue", json=pd_event(key)).json()
    assert len(body["dedup_key"]) == 32
    assert alerts(api)[0]["dedup_key"] == body["dedup_key"]


def test_pagerduty_custom_details_become_labels_rules_can_match(api: Api) -> None:
    """Alertmanager's pagerduty_configs `details:` arrive as custom_details: short values are
    labels (routable); the multi-line instance summary stays in details only."""
    key = create_integration(api, "pagerduty")["key"]
    payload = {
        "summary": "Checkout 5xx above 5%",
        "source": "lb-1",
        "severity": "warning",
        "component": "checkout",
        "custom_details": {
            "team": "payments",
            "replicas": 3,
            "firing": "Labels:\n - alertname = Checkout5xx\n",
            "nested": {"not": "a label"},
        },
    }
    response = api.client.post("/v2/enqueue", json=pd_event(key, dedup_key="cd", payload=payload))
    assert response.status_code == 202
    [alert] = api.get("/api/v1/alerts").json()["items"]
    assert alert["labels"] == {
        "source": "lb-1",
        "component": "checkout",
        "team": "payments",
        "replicas": "3",
    }
    assert alert["details"]["custom_details"]["firing"].startswith("Labels:")


def test_pagerduty_acknowledge_and_resolve(api: Api) -> None:
    key = create_integration(api, "pagerduty")["key"]
    api.client.post("/v2/enqueue", json=pd_event(key, dedup_key="k1"))
    ack = api.client.post("/v2/enqueue", json=pd_event(key, "acknowledge", dedup_key="k1"))
    assert ack.status_code == 202
    incident_id = alerts(api)[0]["incident_id"]
    assert (
        api.get(f"/api/v1/incidents/{incident_id}")
        .json()["acknowledged_by"]
        .startswith("integration:")
    )
    api.client.post("/v2/enqueue", json=pd_event(key, "resolve", dedup_key="k1"))
    assert alerts(api)[0]["status"] == "resolved"


def test_pagerduty_invalid_event_lists_every_bad_field(api: Api) -> None:
    key = create_integration(api, "pagerduty")["key"]
    response = api.client.post(
        "/v2/enqueue",
        json={"routing_key": key, "event_action": "trigger", "payload": {"severity": "loud"}},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event"
    assert "'payload.summary' is missing or blank" in body["errors"]
    assert "'payload.source' is missing or blank" in body["errors"]
    assert "'payload.severity' must be one of critical, error, warning, info" in body["errors"]
    resolve = api.client.post("/v2/enqueue", json={"routing_key": key, "event_action": "resolve"})
    assert resolve.status_code == 400
    assert resolve.json()["errors"] == ["'dedup_key' is missing or blank"]


def test_pagerduty_rate_limit_answers_429(api: Api) -> None:
    from tocsin.alerts.ratelimit import TokenBuckets

    api.client.app.state.intake_writer.limiter = TokenBuckets(rate_per_second=0.001, burst=2)  # type: ignore[attr-defined]
    key = create_integration(api, "pagerduty")["key"]
    codes = [api.client.post("/v2/enqueue", json=pd_event(key)).status_code for _ in range(3)]
    assert codes == [202, 202, 429]


# -- generic -----------------------------------------------------------------------------------


def test_generic_json_alerts(api: Api) -> None:
    key = create_integration(api, "generic", service="billing")["key"]
    url = f"/api/v1/integrations/{key}/generic"
    first = api.client.post(
        url, json={"summary": "Invoice run failed", "severity": "error", "dedup_key": "invoices"}
    )
    assert first.status_code == 200
    (alert,) = alerts(api)
    assert (alert["service"], alert["action"], alert["severity"]) == ("billing", "page", "P1")
    batch = {
        "alerts": [{"summary": "Invoice run failed", "dedup_key": "invoices", "status": "resolved"}]
    }
    assert api.client.post(url, json=batch).status_code == 200
    assert alerts(api)[0]["status"] == "resolved"
    bad = api.client.post(url, json={"alerts": [{"severity": "error"}]})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "alerts.0.summary"


def test_rotating_the_key_stops_the_old_one(api: Api) -> None:
    created = create_integration(api, "generic")
    rotated = api.post(f"/api/v1/integrations/{created['id']}/rotate-key", role="admin").json()
    old = api.client.post(f"/api/v1/integrations/{created['key']}/generic", json={"summary": "x"})
    new = api.client.post(f"/api/v1/integrations/{rotated['key']}/generic", json={"summary": "x"})
    assert (old.status_code, new.status_code) == (404, 200)
    assert (
        api.client.delete(
            f"/api/v1/integrations/{created['id']}", headers=api.headers("admin")
        ).status_code
        == 204
    )
    gone = api.client.post(f"/api/v1/integrations/{rotated['key']}/generic", json={"summary": "x"})
    assert gone.status_code == 404


# -- heartbeats --------------------------------------------------------------------------------


def test_a_heartbeat_ping_by_get_or_post_pushes_the_deadline_back(api: Api) -> None:
    key = create_integration(api, "heartbeat", heartbeat_interval_s=300, heartbeat_grace_s=60)[
        "key"
    ]
    first = api.client.get(f"/api/v1/heartbeats/{key}")
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "ok"
    second = api.client.post(f"/api/v1/heartbeats/{key}")
    assert second.status_code == 200, second.text
    assert second.json()["next_due_at"] >= first.json()["next_due_at"]
    assert api.client.post("/api/v1/heartbeats/not-a-key").status_code == 404


def test_a_heartbeat_ping_by_head_counts_and_sends_no_body(api: Api) -> None:
    key = create_integration(api, "heartbeat", heartbeat_interval_s=300)["key"]
    [before] = api.get("/api/v1/integrations", role="admin").json()
    assert before["last_ping_at"] is None

    pinged = api.client.head(f"/api/v1/heartbeats/{key}")

    assert pinged.status_code == 200
    assert pinged.content == b""
    [after] = api.get("/api/v1/integrations", role="admin").json()
    assert after["last_ping_at"] is not None
    assert api.client.head("/api/v1/heartbeats/not-a-key").status_code == 404


def test_the_openapi_document_names_each_heartbeat_operation_once(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    operations = paths["/api/v1/heartbeats/{key}"]
    ids = [operations[verb]["operationId"] for verb in ("get", "post", "head")]
    assert len(set(ids)) == 3
