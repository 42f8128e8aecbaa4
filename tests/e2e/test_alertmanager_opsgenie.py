"""The real Prometheus Alertmanager's `opsgenie_configs` pointed at a real Tocsin (its API URL
and an Opsgenie integration's key, nothing else), on SQLite and PostgreSQL.

With `update_alerts: true`, each notification of a firing group is a create, then
`PUT .../message` and `PUT .../description` by alias; a resolved group is a close by alias.
Alertmanager marks a notification failed if any of those is not 2xx, and then re-creates the
alert on every retry and never closes it.
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
    render_opsgenie_config,
    resolved,
    start_alertmanager,
)
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    tocsin: httpx.Client
    tocsin_log: LogTail
    am: Alertmanager
    integration: dict[str, Any]

    def logs(self) -> str:
        return f"{self.am.tail()}\n--- Tocsin log (last lines) ---\n{self.tocsin_log.text()}"

    def get(self, path: str, **params: str | int) -> Any:
        response = self.tocsin.get(path, params=params)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def alerts(self) -> list[dict[str, Any]]:
        page = self.get("/api/v1/alerts", limit=500, integration=self.integration["id"])
        items: list[dict[str, Any]] = page["items"]
        return items

    def the_alert_when(self, condition: Any) -> dict[str, Any] | None:
        items = self.alerts()
        return items[0] if len(items) == 1 and condition(items[0]) else None


@pytest.fixture
def stack(server: Server, tmp_path: Path) -> Iterator[Stack]:
    assert server.process.stdout is not None
    tocsin_log = LogTail(server.process.stdout)
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as tocsin:
        body = {"name": "alertmanager via opsgenie", "kind": "opsgenie"}
        created = tocsin.post("/api/v1/integrations", json=body)
        assert created.status_code == 201, created.text
        integration = created.json()
        # A repeat every second, so a changed annotation reaches Tocsin without waiting an hour.
        config = render_opsgenie_config(
            tocsin=integration["urls"]["api_url"], key=integration["key"], repeat_interval="1s"
        )
        am = start_alertmanager(config, tmp_path / "alertmanager")
        try:
            yield Stack(tocsin, tocsin_log, am, integration)
        finally:
            am.stop()


def checkout_errors(summary: str, description: str) -> list[dict[str, Any]]:
    labels = {"alertname": "CheckoutErrors", "priority": "P1", "team": "payments"}
    return [alert(labels, summary=summary, description=description, starts_at=a_minute_ago())]


def test_opsgenie_configs_with_update_alerts_create_update_and_close(stack: Stack) -> None:
    stack.am.post_alerts(checkout_errors("Checkout 5xx above 5%", "Since the 14:00 deploy"))
    first = poll(
        "Alertmanager's opsgenie_configs to create the alert",
        lambda: stack.the_alert_when(lambda a: a["status"] == "firing"),
        context=stack.logs,
    )
    assert first["summary"] == "Checkout 5xx above 5%"
    assert first["details"]["description"] == "Since the 14:00 deploy"
    assert first["labels"]["priority"] == "P1" and first["labels"]["tag:payments"] == "true"
    assert (first["source_severity"], first["action"]) == ("critical", "page")
    incident_id = first["incident_id"]
    assert incident_id is not None

    # The annotation changes: the next notification's PUT message and description update it.
    changed = checkout_errors("Checkout 5xx above 20%", "Rising since the 14:00 deploy")
    stack.am.post_alerts(changed)

    def updated(candidate: dict[str, Any]) -> bool:
        description = candidate["details"].get("description")
        return bool(
            candidate["summary"] == "Checkout 5xx above 20%"
            and description == changed[0]["annotations"]["description"]
        )

    again = poll(
        "PUT message and description to update the alert",
        lambda: stack.the_alert_when(updated),
        context=stack.logs,
    )
    assert again["id"] == first["id"] and again["status"] == "firing"
    assert again["count"] >= 2  # the repeated creates only counted (as Opsgenie does)

    stack.am.post_alerts(resolved(changed, datetime.now(UTC)))
    done = poll(
        "the close by alias to close the alert",
        lambda: stack.the_alert_when(lambda a: a["status"] == "resolved"),
        context=stack.logs,
    )
    assert done["id"] == first["id"] and done["resolved_at"] is not None
    events = stack.get(f"/api/v1/incidents/{incident_id}/timeline")
    reports = [e["data"] for e in events if e["kind"] == "alerts_resolved"]
    assert [r["firing_left"] for r in reports] == [0], reports

    counts = stack.am.notifications("opsgenie")
    assert counts.get("alertmanager_notifications_total", 0) >= 3, counts  # create, update, close
    assert counts.get("alertmanager_notifications_failed_total", 0) == 0, stack.logs()
    assert counts.get("alertmanager_notification_requests_failed_total", 0) == 0, stack.logs()
