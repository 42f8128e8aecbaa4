"""Heartbeats as an intake kind: what a ping and a missed ping mean as alerts, and when the next
ping is due.

The bookkeeping (recording a ping, finding and claiming a miss) is `alerts.heartbeats`; this
module knows no database.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tocsin.alerts.normalized import AlertEvent, IncomingAlert
from tocsin.errors import InvalidInput
from tocsin.incidents.chain import format_instant

# The dedup key of the missed-ping alert: one open miss per heartbeat, which the next ping
# resolves.
MISSED = "heartbeat-missed"


def require_interval(interval_s: int | None) -> None:
    """A heartbeat without an interval could never be missed."""
    if not interval_s:
        raise InvalidInput(
            "a heartbeat integration needs heartbeat_interval_s (seconds between pings)",
            field="heartbeat_interval_s",
        )


def next_due(since: datetime, interval_s: int | None, grace_s: int | None) -> datetime:
    """When a ping is missed: an interval and the grace after `since`."""
    return since + timedelta(seconds=interval_s or 0) + timedelta(seconds=grace_s or 0)


def ping() -> IncomingAlert:
    """A ping resolves the missed-ping alert, if one is open."""
    return IncomingAlert(dedup_key=MISSED, event=AlertEvent.RESOLVE)


def missed(
    name: str,
    *,
    since: datetime,
    service: str | None,
    interval_s: int | None,
    grace_s: int | None,
) -> IncomingAlert:
    """The alert a missed ping opens: critical, so the policy's default routing pages."""
    return IncomingAlert(
        dedup_key=MISSED,
        event=AlertEvent.TRIGGER,
        summary=f"Heartbeat {name} missed: no ping since {format_instant(since)}",
        source_severity="critical",
        service=service,
        labels={"alertname": "HeartbeatMissed", "heartbeat": name},
        details={"interval_s": interval_s, "grace_s": grace_s},
    )
