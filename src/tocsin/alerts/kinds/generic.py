"""The generic JSON format, for scripts and anything without a dedicated integration.

Either one alert object or `{"alerts": [...]}`. Each alert:
`{dedup_key?, status: firing|resolved|acknowledged, summary, severity?: critical|error|
warning|info, service?, labels?: {str: str}, details?: {...}, group_key?}`.
Without a dedup_key, one is derived from summary, service and labels.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tocsin.alerts.normalized import AlertEvent, IncomingAlert
from tocsin.alerts.payloads import field_errors, labels_fingerprint, parse_json

EVENTS = {
    "firing": AlertEvent.TRIGGER,
    "resolved": AlertEvent.RESOLVE,
    "acknowledged": AlertEvent.ACKNOWLEDGE,
}


class GenericAlert(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    dedup_key: str | None = Field(default=None, max_length=255)
    status: Literal["firing", "resolved", "acknowledged"] = "firing"
    summary: str = Field(min_length=1, max_length=2000)
    severity: Literal["critical", "error", "warning", "info"] | None = None
    service: str | None = Field(default=None, max_length=200)
    labels: dict[str, str] = Field(default_factory=dict)
    details: dict[str, Any] = Field(default_factory=dict)
    group_key: str | None = Field(default=None, max_length=400)


class GenericBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alerts: list[GenericAlert] = Field(min_length=1, max_length=10_000)


def parse_body(body: bytes) -> list[IncomingAlert]:
    """The raw body; raises BadPayload naming the first bad field (or the bad JSON)."""
    return parse(parse_json(body))


def parse(document: Any) -> list[IncomingAlert]:
    try:
        if isinstance(document, dict) and "alerts" in document:
            alerts = GenericBatch.model_validate(document).alerts
        else:
            alerts = [GenericAlert.model_validate(document)]
    except ValidationError as exc:
        raise field_errors(exc) from None
    return [_incoming(a) for a in alerts]


def _incoming(alert: GenericAlert) -> IncomingAlert:
    identity = {**alert.labels, "summary": alert.summary, "service": alert.service or ""}
    return IncomingAlert(
        dedup_key=alert.dedup_key or labels_fingerprint(identity),
        event=EVENTS[alert.status],
        summary=alert.summary,
        source_severity=alert.severity,
        service=alert.service,
        labels=alert.labels,
        details=alert.details,
        group_key=alert.group_key,
    )
