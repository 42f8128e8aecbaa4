"""Opsgenie's alerts in Tocsin's tables: which alert a request names, what each request did
(the request statuses of `GET /v2/alerts/requests/{requestId}`), what Opsgenie's actions change
on an alert, and an alert as Opsgenie's API reports it (get, list, count, notes).

Opsgenie answers 202 and processes later; Tocsin answers 202 only once the request's work and
its status have committed together, so a status is final the first time a client asks, and
any instance can answer it. What a request means for incidents is not this module's business:
the routes (`tocsin.web.api.opsgenie`) run the incident flows.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, or_, select
from sqlalchemy.orm import Session

from tocsin.alerts.kinds import opsgenie
from tocsin.alerts.kinds.opsgenie import Listing, Term, dedup_key
from tocsin.alerts.models import Alert, Integration, OpsgenieRequest
from tocsin.alerts.normalized import AlertEvent, IncomingAlert
from tocsin.alerts.routing import Route, route
from tocsin.policy.schema import Policy
from tocsin.timesource import now

RETENTION = timedelta(days=7)  # how long a request's status can be polled


def stamp(at: datetime) -> str:
    """Opsgenie's timestamps: UTC, milliseconds, `Z`."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- what each request did -------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one request did, as `GET /v2/alerts/requests/{requestId}` reports it."""

    integration_id: int
    action: str  # Create | Close | Acknowledge | AddNote | ... (Verb.action)
    success: bool
    status: str
    alert_id: str = ""
    alias: str = ""
    processed_at: datetime = field(default_factory=now)

    def data(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "action": self.action,
            "processedAt": stamp(self.processed_at),
            "integrationId": str(self.integration_id),
            "isSuccess": self.success,
            "status": self.status,
            "alertId": self.alert_id,
            "alias": self.alias,
        }


def record(session: Session, request_id: str, outcome: Outcome) -> None:
    session.add(
        OpsgenieRequest(
            request_id=request_id,
            integration_id=outcome.integration_id,
            action=outcome.action,
            success=outcome.success,
            status=outcome.status[:200],
            alert_id=outcome.alert_id,
            alias=outcome.alias[:512],
            processed_at=outcome.processed_at,
        )
    )


def recorded(session: Session, request_id: str, integration_id: int) -> Outcome | None:
    """Only the integration that made the request may read it."""
    row = session.get(OpsgenieRequest, request_id)
    if row is None or row.integration_id != integration_id:
        return None
    return Outcome(
        row.integration_id,
        row.action,
        row.success,
        row.status,
        row.alert_id,
        row.alias,
        row.processed_at,
    )


def prune(session: Session, before: datetime, batch: int = 500) -> None:
    """Forget the statuses of requests processed before `before` (an index range: cheap).
    Rows another transaction is deleting are skipped, so concurrent writes never queue on
    each other's expired statuses (SQLite has one writer anyway)."""
    expired = (
        select(OpsgenieRequest.request_id)
        .where(OpsgenieRequest.processed_at < before)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    session.execute(delete(OpsgenieRequest).where(OpsgenieRequest.request_id.in_(expired)))


@dataclass(frozen=True)
class Verb:
    """One of Opsgenie's actions: its name in the request status and its wording."""

    action: str
    done: str
    already: str = ""  # the status when there was nothing to change
    on_closed: bool = True  # whether it applies to a closed alert


CLOSED = "Alert is already closed"
MISSING = "Alert does not exist"

CREATE = Verb("Create", "Created alert", "Alert already exists: count increased")
CLOSE = Verb("Close", "Closed alert", CLOSED, on_closed=False)
ACKNOWLEDGE = Verb(
    "Acknowledge", "Acknowledged alert", "Alert is already acknowledged", on_closed=False
)
UNACKNOWLEDGE = Verb(
    "UnAcknowledge", "Unacknowledged alert", "Alert is not acknowledged", on_closed=False
)
SNOOZE = Verb("Snooze", "Snoozed alert", on_closed=False)
ESCALATE = Verb(
    "EscalateToNext", "Escalated alert", "Alert has nothing to escalate", on_closed=False
)
ADD_NOTE = Verb("AddNote", "Added note")
ADD_TAGS = Verb("AddTags", "Added tags")
REMOVE_TAGS = Verb("RemoveTags", "Removed tags")
ADD_DETAILS = Verb("AddDetails", "Added details")
REMOVE_DETAILS = Verb("RemoveDetails", "Removed details")
UPDATE_MESSAGE = Verb("UpdateMessage", "Updated message")
UPDATE_DESCRIPTION = Verb("UpdateDescription", "Updated description")
UPDATE_PRIORITY = Verb("UpdatePriority", "Updated priority")


def alias_of(alert: Alert) -> str:
    """The alias the sender gave (the dedup key is a digest of a very long one)."""
    return str(alert.details.get("alias", alert.dedup_key))


def outcome(
    verb: Verb, alert: Alert, *, success: bool = True, status: str | None = None
) -> Outcome:
    return Outcome(
        alert.integration_id,
        verb.action,
        success,
        status or verb.done,
        str(alert.id),
        alias_of(alert),
    )


def missing(verb: Verb, integration_id: int) -> Outcome:
    return Outcome(integration_id, verb.action, False, MISSING)


def closed(verb: Verb, alert: Alert) -> Outcome:
    """An action that needs an open alert, on a closed one: closing again is no failure."""
    return outcome(verb, alert, success=verb is CLOSE, status=CLOSED)


# -- which alert a request names -------------------------------------------------------------

ALERT_ID = re.compile(r"[0-9]{1,10}")


def find(
    session: Session,
    integration_id: int,
    identifier: str,
    identifier_type: str,
    *,
    lock: bool = False,
) -> Alert | None:
    """The integration's alert with that id (or tiny id: the same), or its newest alert with
    that alias. `lock` holds the row until the transaction ends."""
    query = select(Alert).where(Alert.integration_id == integration_id)
    if identifier_type == "alias":
        query = query.where(Alert.dedup_key == dedup_key(identifier))
    elif ALERT_ID.fullmatch(identifier) and int(identifier) < 2**31:
        query = query.where(Alert.id == int(identifier))
    else:
        return None
    query = query.order_by(Alert.id.desc()).limit(1)
    return session.scalar(query.with_for_update() if lock else query)


def find_open(session: Session, integration_id: int, alias: str) -> Alert | None:
    """The open alert with that alias, locked: a create for it only raises its count."""
    query = select(Alert).where(
        Alert.integration_id == integration_id,
        Alert.dedup_key == dedup_key(alias),
        Alert.status == "firing",
    )
    return session.scalar(query.with_for_update())


def lock_alias(session: Session, integration_id: int, alias: str) -> None:
    """Serialise creates of one alias, so two at once make one alert and a count of two, with
    the first one's fields (SQLite has one writer anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        key = f"opsgenie:{integration_id}:{dedup_key(alias)}"
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))


# -- what Opsgenie's actions change on an alert ----------------------------------------------


def _touch(alert: Alert, details: dict[str, Any], at: datetime) -> None:
    alert.details = {**details, "updatedAt": stamp(at)}


def repeat(alert: Alert, at: datetime) -> None:
    """A create for an open alert: Opsgenie raises the count and keeps every field."""
    alert.count += 1
    alert.last_seen_at = at


def add_note(alert: Alert, note: str, owner: str, at: datetime) -> None:
    _touch(alert, opsgenie.noted(alert.details, note, owner, stamp(at)), at)


def mark(alert: Alert, key: str, who: str, at: datetime) -> None:
    """Who acknowledged (`acknowledgedBy`, also the alert's owner) or closed it (`closedBy`)."""
    details = {**alert.details, key: who}
    if key == "acknowledgedBy":
        details["owner"] = who
    _touch(alert, details, at)


def unacknowledge(alert: Alert, at: datetime) -> None:
    alert.acknowledged_at = None
    details = {k: v for k, v in alert.details.items() if k not in ("owner", "acknowledgedBy")}
    _touch(alert, details, at)


def snooze(alert: Alert, until: datetime, at: datetime) -> None:
    _touch(alert, {**alert.details, "snoozedUntil": stamp(until)}, at)


def tag(alert: Alert, tags: list[str], at: datetime) -> None:
    details, alert.labels = opsgenie.tagged(alert.details, alert.labels, tags)
    _touch(alert, details, at)


def untag(alert: Alert, tags: list[str], at: datetime) -> None:
    details, alert.labels = opsgenie.untagged(alert.details, alert.labels, tags)
    _touch(alert, details, at)


def add_extra(alert: Alert, extra: dict[str, str], at: datetime) -> None:
    _touch(alert, opsgenie.with_extra(alert.details, extra), at)


def remove_extra(alert: Alert, keys: list[str], at: datetime) -> None:
    _touch(alert, opsgenie.without_extra(alert.details, keys), at)


def set_message(alert: Alert, message: str, at: datetime) -> None:
    alert.summary = message
    _touch(alert, dict(alert.details), at)


def set_description(alert: Alert, description: str, at: datetime) -> None:
    _touch(alert, {**alert.details, "description": description}, at)


def set_priority(
    alert: Alert, integration: Integration, policy: Policy, priority: str, at: datetime
) -> Route:
    """A new priority is a new source severity, routed again by the policy: the alert's
    severity and action follow it. Returns the new route."""
    details, alert.labels = opsgenie.with_priority(alert.details, alert.labels, priority)
    alert.source_severity = opsgenie.PRIORITY_SEVERITY[priority]
    routed = _reroute(alert, integration, policy)
    alert.severity, alert.action, alert.rule = routed.severity, routed.action, routed.rule
    alert.service = routed.service
    _touch(alert, details, at)
    return routed


def _reroute(alert: Alert, integration: Integration, policy: Policy) -> Route:
    incoming = IncomingAlert(
        alert.dedup_key,
        AlertEvent.TRIGGER,
        alert.summary,
        source_severity=alert.source_severity,
        labels=alert.labels,
    )
    context = {
        "integration": integration.name,
        "integration_kind": integration.kind,
        "service": integration.service,
    }
    return route(policy, policy.routing, incoming, context)


# -- an alert as Opsgenie reports it ---------------------------------------------------------


def _millis(later: datetime | None, earlier: datetime) -> int | None:
    return None if later is None else int((later - earlier).total_seconds() * 1000)


def _report(alert: Alert) -> dict[str, Any]:
    """Opsgenie's report: how long to acknowledge and to close, and by whom."""
    report = {
        "ackTime": _millis(alert.acknowledged_at, alert.first_seen_at),
        "closeTime": _millis(alert.resolved_at, alert.first_seen_at),
        "acknowledgedBy": alert.details.get("acknowledgedBy") if alert.acknowledged_at else None,
        "closedBy": alert.details.get("closedBy") if alert.resolved_at else None,
    }
    return {name: value for name, value in report.items() if value is not None}


def _snoozed_until(alert: Alert, at: datetime) -> datetime | None:
    until = alert.details.get("snoozedUntil")
    if alert.status != "firing" or not until:
        return None
    parsed = datetime.fromisoformat(str(until))
    return parsed if parsed > at else None


def _updated_at(alert: Alert) -> str:
    times = [alert.last_seen_at, alert.acknowledged_at, alert.resolved_at]
    latest = stamp(max(t for t in times if t is not None))
    return max(latest, str(alert.details.get("updatedAt", "")))


def view(alert: Alert, integration: Integration, at: datetime, *, full: bool) -> dict[str, Any]:
    """The alert as Opsgenie's get (`full`) or list answers it."""
    until = _snoozed_until(alert, at)
    shown: dict[str, Any] = {
        "id": str(alert.id),
        "tinyId": str(alert.id),
        "alias": alias_of(alert),
        "message": alert.summary,
        "status": "open" if alert.status == "firing" else "closed",
        "acknowledged": alert.acknowledged_at is not None,
        "isSeen": alert.acknowledged_at is not None,  # Tocsin knows no "seen" but this
        "snoozed": until is not None,
        "count": alert.count,
        "lastOccurredAt": stamp(alert.last_seen_at),
        "createdAt": stamp(alert.first_seen_at),
        "updatedAt": _updated_at(alert),
        **opsgenie.fields(alert.details, alert.labels),
        "integration": {"id": str(integration.id), "name": integration.name, "type": "API"},
        "report": _report(alert),
    }
    if until is not None:
        shown["snoozedUntil"] = stamp(until)
    return shown | (opsgenie.full_fields(alert.details, alert.labels) if full else {})


def notes(alert: Alert, integration: Integration) -> list[dict[str, Any]]:
    """The alert's notes, oldest first: the create's own, then each one added since."""
    kept: list[dict[str, Any]] = []
    if alert.details.get("note"):
        owner = alert.details.get("user") or integration.name
        created = {
            "note": alert.details["note"],
            "owner": owner,
            "createdAt": stamp(alert.first_seen_at),
        }
        kept.append(created)
    kept += [dict(note) for note in alert.details.get("notes") or []]
    return [{**note, "offset": str(n)} for n, note in enumerate(kept, start=1)]


# -- listing and counting --------------------------------------------------------------------

COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    ":": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
SORT_COLUMNS: dict[str, Any] = {
    "createdAt": Alert.id,
    "tinyId": Alert.id,
    "updatedAt": Alert.last_seen_at,
    "lastOccurredAt": Alert.last_seen_at,
    "alias": Alert.dedup_key,
    "message": Alert.summary,
    "status": Alert.status,
    "acknowledged": Alert.acknowledged_at,
    "count": Alert.count,
}
LABELS = ("priority", "entity", "source")


def _matching(value: Any, term: Term, wanted: Any) -> ColumnElement[bool]:
    """`value` compared as the term says; `!=` also matches an alert without the field."""
    if term.op == "!=":
        return or_(value.is_(None), value != wanted)
    return COMPARE[term.op](value, wanted)


def _condition(term: Term) -> ColumnElement[bool]:
    name, text = term.field, term.value
    if name == "status":
        return _matching(Alert.status, term, "firing" if text == "open" else "resolved")
    if name == "acknowledged":
        acknowledged = Alert.acknowledged_at.is_not(None)
        return acknowledged if (text == "true") == (term.op != "!=") else ~acknowledged
    if name in ("id", "tinyId", "count"):
        return _matching(Alert.count if name == "count" else Alert.id, term, int(text))
    return _text_condition(term)


def _text_condition(term: Term) -> ColumnElement[bool]:
    name, text = term.field, term.value
    if name == "alias":
        return _matching(Alert.dedup_key, term, dedup_key(text))
    if name in ("tag", "tags"):
        return _matching(Alert.labels[f"tag:{text}"].as_string(), term, "true")
    if name == "message":
        contains = func.lower(Alert.summary).contains(text.lower(), autoescape=True)
        return ~contains if term.op == "!=" else contains
    if name == "owner":
        return _matching(Alert.details["owner"].as_string(), term, text)
    return _matching(Alert.labels[name].as_string(), term, text)


def _searched(integration_id: int, terms: list[Term]) -> Select[Alert]:
    query = select(Alert).where(Alert.integration_id == integration_id)
    return query.where(*[_condition(term) for term in terms])


def listed(session: Session, integration_id: int, listing: Listing) -> tuple[list[Alert], int]:
    """One page of the integration's alerts that match the search, and how many match."""
    query = _searched(integration_id, listing.terms)
    column = SORT_COLUMNS[listing.sort]
    order = [column.desc(), Alert.id.desc()] if listing.order == "desc" else [column, Alert.id]
    page = query.order_by(*order).offset(listing.offset).limit(listing.limit)
    return list(session.scalars(page)), counted(session, integration_id, listing.terms)


def counted(session: Session, integration_id: int, terms: list[Term]) -> int:
    query = _searched(integration_id, terms).with_only_columns(func.count())
    return int(session.scalar(query) or 0)
