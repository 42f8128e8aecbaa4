"""What each Opsgenie request did, as `GET /v2/alerts/requests/{requestId}` reports it.

Opsgenie answers 202 and processes later; Tocsin answers 202 only once the alert is committed,
so a request's status is final the first time a client asks for it. This module holds the
statuses (in memory, per process: see RequestLog), the close and acknowledge verbs with their
wording, and which alert a close or acknowledge names.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.alerts.kinds.opsgenie import dedup_key
from tocsin.alerts.models import Alert
from tocsin.alerts.normalized import AlertEvent, IncomingAlert, IngestResult
from tocsin.timesource import now


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Outcome:
    """What one request did, as `GET /v2/alerts/requests/{requestId}` reports it."""

    integration_id: int
    action: str  # Create | Close | Acknowledge
    success: bool
    status: str
    alert_id: str = ""
    alias: str = ""
    processed_at: datetime = field(default_factory=now)

    def data(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "action": self.action,
            "processedAt": _stamp(self.processed_at),
            "integrationId": str(self.integration_id),
            "isSuccess": self.success,
            "status": self.status,
            "alertId": self.alert_id,
            "alias": self.alias,
        }


class RequestLog:
    """The outcomes of the last `capacity` requests, by requestId.

    In memory and per process: after a restart, or when a poll reaches another instance than
    the one that took the request, the status is unknown and the answer is 404, which
    Opsgenie's own clients already retry (Opsgenie answers 404 until it has processed a
    request). The alert itself is committed before the 202; only this status is best-effort.
    """

    def __init__(self, capacity: int = 5000) -> None:
        self.capacity = capacity
        self._outcomes: OrderedDict[str, Outcome] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, request_id: str, outcome: Outcome) -> None:
        with self._lock:
            self._outcomes[request_id] = outcome
            while len(self._outcomes) > self.capacity:
                self._outcomes.popitem(last=False)

    def get(self, request_id: str, integration_id: int) -> Outcome | None:
        """Only the integration that made the request may read it."""
        with self._lock:
            outcome = self._outcomes.get(request_id)
        return outcome if outcome and outcome.integration_id == integration_id else None


@dataclass(frozen=True)
class Verb:
    action: str
    event: AlertEvent
    done: str
    already: str


CLOSE = Verb("Close", AlertEvent.RESOLVE, "Closed alert", "Alert is already closed")
ACKNOWLEDGE = Verb(
    "Acknowledge", AlertEvent.ACKNOWLEDGE, "Acknowledged alert", "Alert is already acknowledged"
)


@dataclass(frozen=True)
class Target:
    """The alert a close or acknowledge names."""

    alert_id: int
    dedup_key: str
    firing: bool


ALERT_ID = re.compile(r"[0-9]{1,10}")


def find_target(
    session: Session, integration_id: int, identifier: str, identifier_type: str
) -> Target | None:
    """The integration's alert with that id, or its newest alert with that alias."""
    query = select(Alert).where(Alert.integration_id == integration_id)
    if identifier_type == "id":
        if not ALERT_ID.fullmatch(identifier) or int(identifier) >= 2**31:
            return None
        query = query.where(Alert.id == int(identifier))
    else:
        query = query.where(Alert.dedup_key == dedup_key(identifier))
    alert = session.scalar(query.order_by(Alert.id.desc()).limit(1))
    if alert is None:
        return None
    return Target(alert.id, alert.dedup_key, alert.status == "firing")


def created(integration_id: int, alert: IncomingAlert, result: IngestResult) -> Outcome:
    alert_ids = result.created or result.updated
    status = "Created alert" if result.created else "Alert already exists: count increased"
    alias = str(alert.details.get("alias", alert.dedup_key))
    alert_id = str(alert_ids[0]) if alert_ids else ""
    return Outcome(integration_id, "Create", True, status, alert_id, alias)


def _verdict(verb: Verb, target: Target | None, changed: bool) -> tuple[bool, str]:
    if target is None:
        return False, "Alert does not exist"
    if changed:
        return True, verb.done
    if not target.firing:
        return verb is CLOSE, "Alert is already closed"
    return True, verb.already


def acted(
    verb: Verb, integration_id: int, target: Target | None, result: IngestResult | None
) -> Outcome:
    changed = bool(result and (result.resolved if verb is CLOSE else result.acknowledged))
    success, status = _verdict(verb, target, changed)
    if target is None:
        return Outcome(integration_id, verb.action, success, status)
    alert_id = str(target.alert_id)
    return Outcome(integration_id, verb.action, success, status, alert_id, target.dedup_key)
