"""Prometheus Alertmanager's webhook (payload version 4), and Grafana's, which extends it.

`kinds.grafana` reads Grafana's payload with this parser, so the detail fields Grafana adds are
listed here too.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Required

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from tocsin.alerts.normalized import AlertEvent, IncomingAlert
from tocsin.alerts.payloads import (
    field_errors,
    invalid_json_or_fields,
    labels_fingerprint,
    parse_time,
)
from tocsin.alerts.routing import source_severity

# Detail fields worth keeping from each alert (Grafana adds the last four).
DETAIL_FIELDS = (
    "generatorURL",
    "startsAt",
    "endsAt",
    "silenceURL",
    "dashboardURL",
    "panelURL",
    "imageURL",
    "values",
    "valueString",
)


class WebhookAlert(TypedDict, total=False):
    """One alert; Grafana adds more fields, which are kept if listed in DETAIL_FIELDS."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    status: Required[Literal["firing", "resolved"]]
    labels: Required[dict[str, str]]
    annotations: dict[str, str]
    startsAt: str | None
    endsAt: str | None
    generatorURL: str | None
    fingerprint: str | None


class WebhookPayload(TypedDict, total=False):
    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    version: str | None
    groupKey: str | None
    status: str | None
    receiver: str | None
    alerts: Required[Annotated[list[WebhookAlert], Field(max_length=10_000)]]


# Validating into plain dicts (not models) keeps a 100-alert batch well under a millisecond.
PAYLOAD = TypeAdapter(WebhookPayload)


def parse(document: Any) -> list[IncomingAlert]:
    """An already decoded payload; the intake routes use parse_body."""
    try:
        payload = PAYLOAD.validate_python(document)
    except ValidationError as exc:
        raise field_errors(exc) from None
    return _alerts(payload)


def parse_body(body: bytes) -> list[IncomingAlert]:
    """Parse and validate the raw body in one pass (pydantic's JSON parser): the intake hot
    path, where a separate json.loads doubled the parsing cost."""
    try:
        payload = PAYLOAD.validate_json(body)
    except ValidationError as exc:
        raise invalid_json_or_fields(exc) from None
    return _alerts(payload)


def _alerts(payload: WebhookPayload) -> list[IncomingAlert]:
    group = payload.get("groupKey")
    return [_incoming(alert, group, index) for index, alert in enumerate(payload["alerts"])]


def _incoming(alert: WebhookAlert, group: str | None, index: int) -> IncomingAlert:
    labels = alert["labels"]
    annotations = alert.get("annotations") or {}
    details: dict[str, Any] = {"annotations": annotations}
    for name in DETAIL_FIELDS:
        value = alert.get(name)
        if value and not (isinstance(value, str) and value.startswith("0001-01-01")):
            details[name] = value  # Go's zero time means "not set": leave it out
    return IncomingAlert(
        dedup_key=alert.get("fingerprint") or labels_fingerprint(labels),
        event=AlertEvent.TRIGGER if alert["status"] == "firing" else AlertEvent.RESOLVE,
        summary=annotations.get("summary")
        or annotations.get("description")
        or labels.get("alertname", ""),
        source_severity=source_severity(labels.get("severity")),
        service=labels.get("service"),
        labels=labels,
        details=details,
        group_key=group,
        source=labels.get("instance"),
        occurred_at=parse_time(alert.get("startsAt"), f"alerts.{index}.startsAt"),
    )
