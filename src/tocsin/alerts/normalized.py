"""The one shape every integration's payload is turned into before it is stored.

The intake kinds' modules (`alerts/kinds/`: alertmanager, pagerduty, grafana, opsgenie,
generic, heartbeat) parse their wire format into `IncomingAlert`s; `ingest.store()` stores,
deduplicates and routes them, and the intake flow groups them. Nothing else about a sender's
format leaks past its kind's module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AlertEvent(StrEnum):
    """What the sender says happened to the alert identified by the dedup key."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


# The source severities Tocsin understands (PagerDuty's four); adapters map onto these.
SOURCE_SEVERITIES = ("critical", "error", "warning", "info")


# Not frozen: a frozen dataclass costs three times as much to build, and the intake builds
# one per alert in a storm. Adapters build these; nothing after them changes one.
@dataclass(slots=True)
class IncomingAlert:
    dedup_key: str
    event: AlertEvent
    summary: str = ""
    source_severity: str | None = None  # one of SOURCE_SEVERITIES, or None if unknown
    service: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    group_key: str | None = None  # the sender's grouping (Alertmanager groupKey)
    source: str | None = None
    occurred_at: datetime | None = None  # the sender's timestamp, if it gave one
    # The sender's "test this contact point" alert (Grafana's TestAlert): stored, never
    # routed to anyone, and resolved at once, since its sender never resolves it.
    test_notification: bool = False


@dataclass
class IngestResult:
    """What one delivery did, for the sender's response and the tests."""

    created: list[int] = field(default_factory=list)  # alert ids opened by this delivery
    updated: list[int] = field(default_factory=list)  # repeats of open alerts
    resolved: list[int] = field(default_factory=list)
    acknowledged: list[int] = field(default_factory=list)
    ignored_resolves: int = 0  # resolves for alerts that were not open
    incidents: list[str] = field(default_factory=list)  # incidents declared or joined
    dedup_keys: list[str] = field(default_factory=list)


@dataclass(slots=True)
class IncomingChange:
    """A change event (PagerDuty's `/v2/change/enqueue`): a deploy, a config push, a flag
    flipped. It pages nobody; it is shown on the incidents it may explain."""

    summary: str
    source: str | None = None
    occurred_at: datetime | None = None  # the sender's timestamp, if it gave one
    custom_details: dict[str, Any] = field(default_factory=dict)
    links: list[dict[str, str]] = field(default_factory=list)
