"""PagerDuty Events API v2 (`POST /v2/enqueue`) and its change events
(`POST /v2/change/enqueue`), answered exactly as PagerDuty answers.

Alertmanager's `pagerduty_configs` with `url:` pointed at Tocsin sends this format too.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from tocsin.alerts.normalized import SOURCE_SEVERITIES, AlertEvent, IncomingAlert, IncomingChange
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
TIME_EXAMPLE = "2026-11-22T09:12:00.000+0000"


def _timestamp(document: dict[str, Any], errors: list[str]) -> datetime | None:
    """`payload.timestamp`, an ISO 8601 time (PagerDuty reads one without an offset as UTC);
    anything else is refused, as is a time outside the years 1 to 9999 once made UTC."""
    payload = document.get("payload")
    value = payload.get("timestamp") if isinstance(payload, dict) else None
    if value is None:
        return None
    problem = f"'payload.timestamp' must be an ISO 8601 time such as {TIME_EXAMPLE}"
    if not isinstance(value, str) or len(value) > 64:
        errors.append(problem)
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return parsed.replace(tzinfo=parsed.tzinfo or UTC).astimezone(UTC)
    except (ValueError, OverflowError):
        errors.append(problem)
        return None


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
    occurred_at = _timestamp(document, errors)
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
        occurred_at=occurred_at,
    )


# -- change events ----------------------------------------------------------------------------

MAX_LINKS = 50
WEB = ("http://", "https://")


def parse_change_body(body: bytes) -> tuple[str, IncomingChange]:
    """The raw body of a change event: the routing key and the change."""
    return parse_change(parse_json(body))


def parse_change(document: Any) -> tuple[str, IncomingChange]:
    """Returns the routing key and the change; raises BadPayload listing every bad field."""
    if not isinstance(document, dict):
        raise invalid(["'event' must be a JSON object"])
    errors: list[str] = []
    routing_key = _text(document, "routing_key", errors, 255)
    if routing_key is None:
        errors.append("'routing_key' is missing or blank")
    if not isinstance(document.get("payload"), dict):
        errors.append("'payload' is missing or not an object")
        raise invalid(errors)
    summary = _text(document, "payload.summary", errors, 1024)
    if summary is None:
        errors.append("'payload.summary' is missing or blank")
    source = _text(document, "payload.source", errors, 255)
    occurred_at = _timestamp(document, errors)
    details = document["payload"].get("custom_details")
    if details is not None and not isinstance(details, dict):
        errors.append("'payload.custom_details' must be an object")
    links = _links(document.get("links"), errors)
    if errors:
        raise invalid(errors)
    assert routing_key is not None and summary is not None
    change = IncomingChange(summary, source, occurred_at, details or {}, links)
    return routing_key, change


def _links(given: Any, errors: list[str]) -> list[dict[str, str]]:
    """`links: [{href, text?}]`, as PagerDuty takes them."""
    if given is None:
        return []
    if not isinstance(given, list) or len(given) > MAX_LINKS:
        errors.append(f"'links' must be a list of at most {MAX_LINKS} {{href, text}} objects")
        return []
    links = []
    for index, link in enumerate(given):
        href = link.get("href") if isinstance(link, dict) else None
        text = link.get("text", "") if isinstance(link, dict) else ""
        # Only web links: the console shows them as links, and a javascript: one would run.
        if not isinstance(href, str) or not href.startswith(WEB) or len(href) > 2048:
            errors.append(
                f"'links.{index}.href' must be an http or https URL of at most 2048 characters"
            )
        elif not isinstance(text, str) or len(text) > 1024:
            errors.append(f"'links.{index}.text' must be text of at most 1024 characters")
        else:
            links.append({"href": href, "text": text})
    return links
