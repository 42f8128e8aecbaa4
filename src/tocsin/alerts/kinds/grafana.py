"""Grafana unified alerting's webhook contact point.

Grafana sends Alertmanager's payload with fields of its own added (orgId, title, state and
message; per alert silenceURL, dashboardURL, panelURL, imageURL, values and valueString), so
the Alertmanager parser reads it and keeps Grafana's per-alert fields among its details. It is
a kind of its own all the same: routing rules can match `integration_kind: grafana`, and its
senders get a URL of their own.
"""

from __future__ import annotations

from tocsin.alerts.kinds import alertmanager
from tocsin.alerts.normalized import IncomingAlert


def parse_body(body: bytes) -> list[IncomingAlert]:
    """The raw body; raises BadPayload naming the bad fields (or the bad JSON)."""
    return alertmanager.parse_body(body)
