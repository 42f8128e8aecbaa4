"""Grafana unified alerting's webhook contact point.

Grafana sends Alertmanager's payload with fields of its own added (orgId, title, state and
message; per alert silenceURL, dashboardURL, panelURL, imageURL, values and valueString), so
the Alertmanager parser reads it and keeps Grafana's per-alert fields among its details. It is
a kind of its own all the same: routing rules can match `integration_kind: grafana`, and its
senders get a URL of their own.

Grafana's "Test" button on a contact point sends one firing alert labelled
`alertname=TestAlert, instance=Grafana` (annotation `summary: Notification test`) and never
resolves it. It is marked as a test notification: stored, so the user sees it arrived, routed
to nobody and resolved at once.
"""

from __future__ import annotations

from tocsin.alerts.kinds import alertmanager
from tocsin.alerts.normalized import IncomingAlert

TEST_ALERTNAME = "TestAlert"
TEST_SUMMARY = "Notification test"


def parse_body(body: bytes) -> list[IncomingAlert]:
    """The raw body; raises BadPayload naming the bad fields (or the bad JSON)."""
    alerts = alertmanager.parse_body(body)
    for alert in alerts:
        alert.test_notification = is_test(alert)
    return alerts


def is_test(alert: IncomingAlert) -> bool:
    """Grafana's test notification: its TestAlert, with Grafana's own instance label or
    summary (a person may add labels and annotations of their own in the test dialog)."""
    if alert.labels.get("alertname") != TEST_ALERTNAME:
        return False
    summary = alert.details.get("annotations", {}).get("summary")
    return alert.labels.get("instance") == "Grafana" or summary == TEST_SUMMARY
