"""PagerDuty Events API v2 (`POST /v2/enqueue`), answered exactly as PagerDuty answers.

Alertmanager's `pagerduty_configs` with `url:` pointed at Tocsin sends this format too.
"""

from __future__ import annotations

import uuid
from typing import Any

from tocsin.alerts.normalized import SOURCE_SEVERITIES, AlertEvent, IncomingAlert
from tocsin.alerts.payloads import BadPayload, parse_json

ACTIONS = ("trigger", "acknowledge", "resolve")


def _text(document: dict[str, Any], path: str, errors: list[str], limit: int) -> str | None:
    holder: Any = document
    for part in path.split("."):
        holder = holder.get(part) if isinstance(holder, dict) else None
    if holder is None or (isinstance(holder, str) and not holder.strip()):
        return None
    if not isinstance(holder, str):
        errors.append(f"'{path}' must be a string")
        return None
    if len(holder) > limit:
        errors.append(f"'{path}' must be at most {limit} characters")
    return holder


LABEL_VALUE_LIMIT = 200


def _label_like(custom_details: Any) -> dict[str, str]:
    """Short one-line values of custom_details, as labels that routing rules can match
    (PagerDuty's event rules match on them too). Alertmanager's `details:` arrive this way;
    its multi-line `firing` summary does not become a label (it stays in details)."""
    if not isinstance(custom_details, dict):
        return {}
    labels = {}
    for name, value in custom_details.items():
        if isinstance(value, bool | int | float | str):
            text = str(value)
            if text and len(text) <= LABEL_VALUE_LIMIT and "\n" not in text:
                labels[str(name)] = text
    return labels


def invalid(errors: list[str]) -> BadPayload:
    return BadPayload(
        "Event object is invalid", [{"field": e.split("'")[1], "message": e} for e in errors]
    )


def parse_body(body: bytes) -> tuple[str, IncomingAlert]:
    """The raw body: the routing key (the integration's key) and the alert."""
    return parse(parse_json(body))


def parse(document: Any) -> tuple[str, IncomingAlert]:
    """Returns the routing key and the alert; raises BadPayload listing every bad field."""
    if not isinstance(document, dict):
        raise invalid(["'event' must be a JSON object"])
    errors: list[str] = []
    routing_key = _text(document, "routing_key", errors, 255)
    if routing_key is None:
        errors.append("'routing_key' is missing or blank")
    action = document.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' must be one of trigger, acknowledge, resolve")
    dedup_key = _text(document, "dedup_key", errors, 255)
    if action in ("acknowledge", "resolve") and dedup_key is None:
        errors.append("'dedup_key' is missing or blank")
    alert = _trigger(document, errors, dedup_key) if action == "trigger" else None
    if errors:
        raise invalid(errors)
    assert routing_key is not None
    if alert is None:
        assert dedup_key is not None
        alert = IncomingAlert(dedup_key=dedup_key, event=AlertEvent(str(action)))
    return routing_key, alert


def _trigger(document: dict[str, Any], errors: list[str], dedup_key: str | None) -> IncomingAlert:
    payload = document.get("payload")
    if not isinstance(payload, dict):
        errors.append("'payload' is missing or not an object")
        return IncomingAlert(dedup_key="", event=AlertEvent.TRIGGER)
    summary = _text(document, "payload.summary", errors, 1024)
    if summary is None:
        errors.append("'payload.summary' is missing or blank")
    source = _text(document, "payload.source", errors, 255)
    if source is None:
        errors.append("'payload.source' is missing or blank")
    severity = payload.get("severity")
    if severity not in SOURCE_SEVERITIES:
        errors.append("'payload.severity' must be one of critical, error, warning, info")
    details = {
        k: payload[k]
        for k in ("component", "group", "class", "custom_details", "timestamp")
        if k in payload
    }
    for extra in ("links", "images", "client", "client_url"):
        if extra in document:
            details[extra] = document[extra]
    labels = {k: str(payload[k]) for k in ("component", "group", "class") if payload.get(k)}
    labels = {**_label_like(payload.get("custom_details")), **labels}
    return IncomingAlert(
        dedup_key=dedup_key or uuid.uuid4().hex,
        event=AlertEvent.TRIGGER,
        summary=summary or "",
        source_severity=severity if isinstance(severity, str) else None,
        service=payload.get("component") if isinstance(payload.get("component"), str) else None,
        labels={"source": source or "", **labels},
        details=details,
        group_key=payload.get("group") if isinstance(payload.get("group"), str) else None,
        source=source,
    )
