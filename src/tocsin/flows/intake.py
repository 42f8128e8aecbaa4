"""Alerts arrive: store them, then open, join or tell the incidents they belong to."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.alerts import grouping, heartbeats
from tocsin.alerts.ingest import ClosedAlert, Delivery, NewAlert, store
from tocsin.alerts.models import Integration
from tocsin.alerts.normalized import IncomingAlert, IngestResult
from tocsin.comms import alert_notices, joins
from tocsin.config import load_settings
from tocsin.flows import communications
from tocsin.flows import incidents as incident_flows
from tocsin.incidents import service as incident_service
from tocsin.incidents import timeline
from tocsin.incidents.lifecycle import OPEN_STATUSES
from tocsin.incidents.models import Incident
from tocsin.policy.loader import LoadedPolicy
from tocsin.timesource import now

SAMPLE = 20  # how many dedup keys a timeline event lists before it just counts


def deliver(
    session: Session, *, delivery: Delivery, alerts: Sequence[IncomingAlert]
) -> IngestResult:
    """1. Store the alerts: deduplicate, route, silence, close and acknowledge.
    2. Attach new paging alerts to an incident per group, declaring one if none is open.
    3. Repeats that page now, or more severely than their incident, act on it.
    4. Tell incidents whose alerts resolved at the source.
    5. Acknowledge incidents whose alerts were acknowledged at the source.
    6. Tell the audiences a routing rule names (`notify`) about each new alert it matched."""
    stored = store(session, delivery=delivery, alerts=alerts)
    at = now()
    _tell_audiences(session, delivery, stored.new_alerts, at)
    for key, members in grouping.paging_groups(stored.new_alerts).items():
        incident = _open_or_join(session, delivery, key, members, at)
        if incident.id not in stored.result.incidents:
            stored.result.incidents.append(incident.id)
    _repeated(session, delivery, stored.repeated, at)
    _report_resolved(session, delivery, stored.closed, at)
    _acknowledge_incidents(session, delivery, stored.acknowledged_incidents)
    return stored.result


def _tell_audiences(
    session: Session, delivery: Delivery, new_alerts: Sequence[NewAlert], at: datetime
) -> None:
    notices = [
        alert_notices.AlertNotice(
            alert_id=alert.id,
            summary=alert.summary,
            dedup_key=alert.dedup_key,
            integration=delivery.integration.name,
            action=alert.route.action,
            severity=alert.route.severity,
            service=alert.route.service,
            rule=alert.route.rule,
            audience=alert.route.notify,
        )
        for alert in new_alerts
        if alert.route.notify and not alert.suppressed
    ]
    if notices:  # settings are read only when there is someone to tell: intake is hot
        sending = communications.sending(load_settings())
        alert_notices.tell(
            session, policy=delivery.loaded.policy, notices=notices, sending=sending, at=at
        )


def page_stored(session: Session, *, delivery: Delivery, alerts: Sequence[NewAlert]) -> None:
    """Stored alerts that page only now (an Opsgenie priority update, a repeat trigger that
    is more severe): open or join their groups' incidents, as new alerts do."""
    at = now()
    for key, members in grouping.paging_groups(alerts).items():
        _open_or_join(session, delivery, key, members, at)


def _open_or_join(
    session: Session, delivery: Delivery, key: str, members: list[NewAlert], at: datetime
) -> Incident:
    """1. Join the group's open incident, or declare one. 2. Attach the alerts.
    3. A joined incident takes the alerts' severity if it is more severe, and, once
       acknowledged, its acknowledger and commander are told (never silently)."""
    incident, joined = _incident_for_group(session, delivery, key, members, at)
    _attach(session, delivery, incident, members, at)
    if joined:
        loaded = incident_service.policy_of(session, incident)
        raise_severity(session, delivery=delivery, incident=incident, members=members)
        if incident.acknowledged_at is not None:
            after = loaded.policy.routing.joined_notice_after.amount
            joins.expect(session, incident=incident, at=at, after=after)
    return incident


def _incident_for_group(
    session: Session, delivery: Delivery, key: str, members: list[NewAlert], at: datetime
) -> tuple[Incident, bool]:
    """The incident the group's alerts go to, and whether it was open already."""
    grouping.lock(session, key)
    window = delivery.loaded.policy.routing.group_window.amount
    joined = grouping.join_open(session, key, at - window, at)
    if joined is not None:
        return incident_service.lock(session, joined), True
    incident = _declare(session, delivery, members)
    grouping.start(session, key, incident.id, at)
    timeline.append(
        session,
        incident=incident,
        kind="page_requested",
        actor=delivery.actor,
        at=at,
        data={"severity": incident.severity, "rule": members[0].route.rule},
    )
    return incident, False


def raise_severity(
    session: Session, *, delivery: Delivery, incident: Incident, members: Sequence[NewAlert]
) -> None:
    """The open incident takes the most severe of its alerts' severities when that is more
    severe than its own, under its own policy; a milder one is its people's call."""
    policy = incident_service.policy_of(session, incident).policy
    known = [m for m in members if m.route.severity in policy.severity_ids()]
    if incident.status not in OPEN_STATUSES or not known:
        return
    worst = min(known, key=lambda m: policy.rank(m.route.severity))
    if policy.rank(worst.route.severity) >= policy.rank(incident.severity):
        return
    reason = f"a more severe alert joined: {worst.summary or worst.dedup_key}"
    incident_flows.change_severity(
        session,
        incident_id=incident.id,
        severity=worst.route.severity,
        reason=reason[:500],
        actor=delivery.actor,
    )


def _repeated(session: Session, delivery: Delivery, repeats: list[NewAlert], at: datetime) -> None:
    """Repeat triggers that page: one without an incident (it paged nobody until now) opens
    or joins its group's; one with an incident raises it if the repeat is more severe."""
    if not repeats:
        return
    unattached = [r for r in repeats if r.incident_id is None]
    if unattached:
        page_stored(session, delivery=delivery, alerts=unattached)
    by_incident: dict[str, list[NewAlert]] = defaultdict(list)
    for repeat in repeats:
        if repeat.incident_id is not None:
            by_incident[repeat.incident_id].append(repeat)
    for incident_id, members in sorted(by_incident.items()):
        incident = incident_service.get(session, incident_id)
        raise_severity(session, delivery=delivery, incident=incident, members=members)


def _declare(session: Session, delivery: Delivery, members: list[NewAlert]) -> Incident:
    first = members[0]
    title = first.summary or first.dedup_key
    if len(members) > 1:
        title = f"{title} (+{len(members) - 1} more alerts)"
    declaration = incident_service.Declaration(
        title=title[:300],
        severity=first.route.severity,
        services=[first.route.service] if first.route.service else [],
        summary=f"Declared by Tocsin from {delivery.integration.kind} alerts "
        f"(rule: {first.route.rule}).",
    )
    return incident_flows.declare(
        session, loaded=delivery.loaded, declaration=declaration, actor=delivery.actor
    )


def _attach(
    session: Session, delivery: Delivery, incident: Incident, members: list[NewAlert], at: datetime
) -> None:
    ids = [m.id for m in members]
    grouping.attach(session, incident.id, ids)
    keys = [m.dedup_key for m in members]
    summaries = [(m.summary or m.dedup_key)[:200] for m in members[:SAMPLE]]
    timeline.append(
        session,
        incident=incident,
        kind="alerts_attached",
        actor=delivery.actor,
        at=at,
        data={
            "count": len(ids),
            "dedup_keys": keys[:SAMPLE],
            "alert_ids": ids[:SAMPLE],
            "summaries": summaries,
        },
    )


def _report_resolved(
    session: Session, delivery: Delivery, closed: list[ClosedAlert], at: datetime
) -> None:
    by_incident: dict[str, list[str]] = defaultdict(list)
    for alert in closed:
        if alert.incident_id:
            by_incident[alert.incident_id].append(alert.dedup_key)
    for incident_id, keys in sorted(by_incident.items()):
        incident = incident_service.lock(session, incident_id)
        left = grouping.firing_left(session, incident_id)
        data: dict[str, Any] = {
            "count": len(keys),
            "dedup_keys": keys[:SAMPLE],
            "firing_left": left,
        }
        if left == 0 and incident.status in OPEN_STATUSES:
            # The source says it is over; a person decides whether it really is.
            data["suggestion"] = "every alert has resolved: consider moving to monitoring"
        timeline.append(
            session,
            incident=incident,
            kind="alerts_resolved",
            actor=delivery.actor,
            at=at,
            data=data,
        )


def _acknowledge_incidents(session: Session, delivery: Delivery, incident_ids: list[str]) -> None:
    for incident_id in incident_ids:
        incident = incident_service.get(session, incident_id)
        if incident.acknowledged_at is None and incident.status != "closed":
            incident_flows.acknowledge(session, incident_id=incident_id, actor=delivery.actor)


def heartbeat_ping(
    session: Session, *, integration: Integration, loaded: LoadedPolicy
) -> IngestResult:
    """A heartbeat pinged: re-arm it and resolve its missed-heartbeat alert, if one is open."""
    resolve = heartbeats.record_ping(integration)
    return deliver(session, delivery=Delivery(integration, loaded), alerts=[resolve])


def heartbeat_missed(session: Session, *, integration: Integration, loaded: LoadedPolicy) -> None:
    """A heartbeat's ping is overdue: open its alert, routed and paged like any other."""
    alert = heartbeats.missed_alert(integration)
    deliver(session, delivery=Delivery(integration, loaded), alerts=[alert])
