"""Prometheus Alertmanager's webhook (payload version 4), and Grafana's, which extends it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tocsin.alerts.normalized import AlertEvent, IncomingAlert
from tocsin.alerts.payloads import field_errors, labels_fingerprint
from tocsin.alerts.routing import source_severity

# Detail fields worth keeping from each alert (Grafana adds the last four).
DETAIL_FIELDS = ("generatorURL", "startsAt", "endsAt", "silenceURL", "dashboardURL", "panelURL",
                 "valueString")  # fmt: skip


class WebhookAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str | None = None  # noqa: N815  (the wire format's names)
    endsAt: str | None = None  # noqa: N815
    generatorURL: str | None = None  # noqa: N815
    fingerprint: str | None = None


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: str | None = None
    groupKey: str | None = None  # noqa: N815
    status: str | None = None
    receiver: str | None = None
    alerts: list[WebhookAlert] = Field(max_length=10_000)


def parse(document: Any) -> list[IncomingAlert]:
    try:
        payload = WebhookPayload.model_validate(document)
    except ValidationError as exc:
        raise field_errors(exc) from None
    return [_incoming(alert, payload.groupKey) for alert in payload.alerts]


def _incoming(alert: WebhookAlert, group: str | None) -> IncomingAlert:
    annotations = alert.annotations
    extra = alert.model_extra or {}
    details: dict[str, Any] = {"annotations": annotations}
    for name in DETAIL_FIELDS:
        value = getattr(alert, name, None) or extra.get(name)
        if value:
            details[name] = value
    return IncomingAlert(
        dedup_key=alert.fingerprint or labels_fingerprint(alert.labels),
        event=AlertEvent.TRIGGER if alert.status == "firing" else AlertEvent.RESOLVE,
        summary=annotations.get("summary")
        or annotations.get("description")
        or alert.labels.get("alertname", ""),
        source_severity=source_severity(alert.labels.get("severity")),
        service=alert.labels.get("service"),
        labels=alert.labels,
        details=details,
        group_key=group,
        source=alert.labels.get("instance"),
    )
