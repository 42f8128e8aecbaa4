"""The real Prometheus Alertmanager delivering to a real Tocsin, on SQLite and PostgreSQL.

Alerts are posted to Alertmanager's API exactly as Prometheus posts them; Alertmanager groups
them and sends them on with its own webhook sender and its own PagerDuty Events v2 sender.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.alertmanager_helpers import (
    Alertmanager,
    LogTail,
    a_minute_ago,
    alert,
    poll,
    render_config,
    resolved,
    start_alertmanager,
)
from tests.e2e.conftest import Server


@dataclass
class Stack:
    """A running Tocsin with two integrations, and an Alertmanager pointed at both."""

    server: Server
    tocsin: httpx.Client
    tocsin_log: LogTail
    am: Alertmanager
    webhook: dict[str, Any]
    pagerduty: dict[str, Any]

    def config(self, repeat_interval: str = "1h") -> str:
        return render_config(
            tocsin=self.server.url,
            webhook_key=self.webhook["key"],
            routing_key=self.pagerduty["key"],
            repeat_interval=repeat_interval,
        )

    def logs(self) -> str:
        return f"{self.am.tail()}\n--- Tocsin log (last lines) ---\n{self.tocsin_log.text()}"

    def get(self, path: str, **params: str | int) -> Any:
        response = self.tocsin.get(path, params=params)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def alerts(self, integration: dict[str, Any]) -> list[dict[str, Any]]:
        page = self.get("/api/v1/alerts", limit=500, integration=integration["id"])
        items: list[dict[str, Any]] = page["items"]
        return items

    def timeline(self, incident_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.get(f"/api/v1/incidents/{incident_id}/timeline")
        return events


def create_integration(tocsin: httpx.Client, name: str, kind: str) -> dict[str, Any]:
    response = tocsin.post("/api/v1/integrations", json={"name": name, "kind": kind})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert created["key"] and created["urls"], created
    return created


@pytest.fixture
def stack(server: Server, tmp_path: Path) -> Iterator[Stack]:
    assert server.process.stdout is not None
    tocsin_log = LogTail(server.process.stdout)  # also keeps tocsin's pipe from filling up
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as tocsin:
        webhook = create_integration(tocsin, "prometheus", "alertmanager")
        pagerduty = create_integration(tocsin, "payments via pagerduty", "pagerduty")
        config = render_config(
            tocsin=server.url, webhook_key=webhook["key"], routing_key=pagerduty["key"]
        )
        am = start_alertmanager(config, tmp_path / "alertmanager")
        try:
            yield Stack(server, tocsin, tocsin_log, am, webhook, pagerduty)
        finally:
            am.stop()


def disk_full_storm(size: int = 10) -> list[dict[str, Any]]:
    started = a_minute_ago()
    return [
        alert(
            {
                "alertname": "DiskFull",
                "severity": "critical",
                "instance": f"db-{n}:9100",
                "team": "storage",
            },
            summary=f"Disk full on db-{n}",
            starts_at=started,
        )
        for n in range(size)
    ]


def am_fingerprints(am: Alertmanager) -> set[str]:
    response = am.client.get(f"{am.url}/api/v2/alerts")
    assert response.status_code == 200, response.text
    return {a["fingerprint"] for a in response.json()}


def attachments(stack: Stack, incident_id: str) -> list[int]:
    """How many alerts each `alerts_attached` event added; the incident was paged only once."""
    events = stack.timeline(incident_id)
    assert [e["kind"] for e in events].count("page_requested") == 1, events
    return [e["data"]["count"] for e in events if e["kind"] == "alerts_attached"]


def when(condition: bool, value: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    return value if condition else None


def test_a_storm_through_alertmanager_is_one_incident_that_a_person_resolves(
    stack: Stack,
) -> None:
    storm = disk_full_storm()
    stack.am.post_alerts(storm)

    def arrived() -> list[dict[str, Any]] | None:
        items = stack.alerts(stack.webhook)
        return when(len(items) == 10, items)

    stored = poll(
        "Alertmanager's webhook to deliver 10 DiskFull alerts", arrived, context=stack.logs
    )
    assert {a["status"] for a in stored} == {"firing"}
    assert {a["labels"]["instance"] for a in stored} == {f"db-{n}:9100" for n in range(10)}
    assert {(a["source_severity"], a["severity"], a["action"]) for a in stored} == {
        ("critical", "P0", "page")  # critical pages at the top of the default ladder
    }
    # Tocsin keys each alert by Alertmanager's own fingerprint.
    assert {a["dedup_key"] for a in stored} == am_fingerprints(stack.am)
    incident_ids = {a["incident_id"] for a in stored}
    assert len(incident_ids) == 1 and None not in incident_ids, incident_ids
    incident_id = incident_ids.pop()
    incident = stack.get(f"/api/v1/incidents/{incident_id}")
    assert (incident["severity"], incident["status"]) == ("P0", "investigating")
    # Alertmanager flushes a group at once when its alerts started longer than group_wait ago
    # (as Prometheus's do), so the storm may come in two deliveries: still one incident.
    attached = attachments(stack, incident_id)
    assert sum(attached) == 10, attached

    # Prometheus re-sends firing alerts every evaluation, and Alertmanager re-notifies every
    # repeat_interval (made 2s by a live reload): Tocsin counts repeats, it never duplicates.
    stack.am.post_alerts(storm)
    stack.am.reload(stack.config(repeat_interval="2s"))

    def repeated() -> list[dict[str, Any]] | None:
        items = stack.alerts(stack.webhook)
        return when(bool(items) and min(a["count"] for a in items) >= 2, items)

    again = poll("a repeated notification (every alert's count >= 2)", repeated, context=stack.logs)
    assert len(again) == 10
    assert {a["incident_id"] for a in again} == {incident_id}
    assert [i["id"] for i in stack.get("/api/v1/incidents")["items"]] == [incident_id]
    assert attachments(stack, incident_id) == attached  # nothing new was attached

    stack.am.post_alerts(resolved(storm, datetime.now(UTC)))

    def all_resolved() -> list[dict[str, Any]] | None:
        items = stack.alerts(stack.webhook)
        return when(len(items) == 10 and all(a["status"] == "resolved" for a in items), items)

    poll("Alertmanager's resolved notification for all 10 alerts", all_resolved, context=stack.logs)
    incident = stack.get(f"/api/v1/incidents/{incident_id}")
    assert incident["status"] == "investigating"  # the source says it is over; a person decides
    events = stack.timeline(incident_id)
    reports = [e["data"] for e in events if e["kind"] == "alerts_resolved"]
    assert reports and reports[-1]["firing_left"] == 0, reports
    assert sum(r["count"] for r in reports) == 10, reports
    assert "consider moving to monitoring" in reports[-1]["suggestion"]
    assert len(stack.get("/api/v1/incidents")["items"]) == 1

    verify = stack.server.cli("verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_pagerduty_configs_reach_events_v2_and_resolve(stack: Stack) -> None:
    payments = [
        alert(
            {
                "alertname": "PaymentsDown",
                "severity": "critical",
                "team": "payments",
                "instance": "pay-1:8080",
            },
            summary="Card payments failing",
            starts_at=a_minute_ago(),
        )
    ]
    stack.am.post_alerts(payments)

    def arrived() -> list[dict[str, Any]] | None:
        items = stack.alerts(stack.pagerduty)
        return when(len(items) == 1, items)

    (paged,) = poll(
        "Alertmanager's PagerDuty sender to reach /v2/enqueue", arrived, context=stack.logs
    )
    assert paged["integration_id"] == stack.pagerduty["id"]
    assert paged["status"] == "firing"
    assert "PaymentsDown" in paged["summary"]  # Alertmanager's default description
    assert (paged["source_severity"], paged["severity"]) == ("critical", "P0")
    incident_id = paged["incident_id"]
    assert incident_id is not None
    assert stack.get(f"/api/v1/incidents/{incident_id}")["severity"] == "P0"
    assert "[FIRING:1]" in paged["summary"]

    # An update: a second instance joins Alertmanager's group. Its PagerDuty sender keys the
    # event by the group, so this is a repeat trigger of the same dedup key, which updates the
    # alert (its summary now counts two) and opens nothing new.
    payments.append(
        alert(
            {
                "alertname": "PaymentsDown",
                "severity": "critical",
                "team": "payments",
                "instance": "pay-2:8080",
            },
            summary="Card payments failing",
            starts_at=a_minute_ago(),
        )
    )
    stack.am.post_alerts(payments)

    def updated() -> list[dict[str, Any]] | None:
        items = stack.alerts(stack.pagerduty)
        return when(len(items) == 1 and "[FIRING:2]" in items[0]["summary"], items)

    (again,) = poll("the group's update to re-trigger the alert", updated, context=stack.logs)
    assert again["id"] == paged["id"] and again["count"] >= 2
    assert again["incident_id"] == incident_id
    assert [i["id"] for i in stack.get("/api/v1/incidents")["items"]] == [incident_id]

    stack.am.post_alerts(resolved(payments, datetime.now(UTC)))

    def closed() -> list[dict[str, Any]] | None:
        items = stack.alerts(stack.pagerduty)
        return when(len(items) == 1 and items[0]["status"] == "resolved", items)

    (done,) = poll("the PagerDuty resolve event to resolve the alert", closed, context=stack.logs)
    assert done["id"] == paged["id"] and done["resolved_at"] is not None
    reports = [e["data"] for e in stack.timeline(incident_id) if e["kind"] == "alerts_resolved"]
    assert [r["firing_left"] for r in reports] == [0], reports
    assert stack.get(f"/api/v1/incidents/{incident_id}")["status"] == "investigating"
    assert stack.alerts(stack.webhook) == []  # continue: false kept it off the webhook route

    verify = stack.server.cli("verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
