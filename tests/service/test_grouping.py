"""Grouping that never surprises: one test per rule (SQLite and PostgreSQL).

A group is always one integration's; each kind groups as its original service does (the
sender's group key for Alertmanager and Grafana, one alert per dedup key for PagerDuty unless
`payload.group` or a routing rule's `group_by` says otherwise, the alias for Opsgenie); a
trigger after a resolve is a new alert, and a resolved incident is never joined. An alert
that joins an acknowledged incident raises its severity if it is worse, and the acknowledger
and the commander are told, in one message per burst, through the outbox.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
import time_machine
from sqlalchemy import select

from tests.service.test_communications import FRIDAY_10, Room
from tocsin.alerts import integrations
from tocsin.alerts.ingest import Delivery
from tocsin.alerts.kinds import alertmanager, opsgenie, pagerduty
from tocsin.alerts.models import Alert, Integration
from tocsin.alerts.normalized import AlertEvent, IncomingAlert
from tocsin.db import Database
from tocsin.flows import incidents as incident_flows
from tocsin.flows import intake
from tocsin.incidents.models import Incident
from tocsin.policy.loader import LoadedPolicy, load_policy_text

ALICE_PUSH = "http://127.0.0.1:9/alice"  # alice's first rule in tests/fixtures/oncall.yaml
CAROL_MAIL = "carol@example.com"


@pytest.fixture
def room(database: Database) -> Iterator[Room]:
    with time_machine.travel(FRIDAY_10, tick=False) as clock:
        room = Room(database, clock)
        room.apply_oncall()
        yield room


def with_routing(routing: str) -> LoadedPolicy:
    """The default policy with a routing section of the test's own in place of its own."""
    folder = resources.files("tocsin.policy") / "bundled"
    text = re.sub(r"(?m)^routing:\n(?:[ #].*\n|\n)*", "", (folder / "default.yaml").read_text())
    return load_policy_text(f"{text}\nrouting:\n{routing}", source="default-grouping.yaml")


class Desk:
    """Integrations and deliveries on the room's database and clock."""

    def __init__(self, room: Room, policy: LoadedPolicy) -> None:
        self.room, self.database, self.policy = room, room.database, policy

    def integration(self, kind: str, name: str | None = None) -> Integration:
        with self.database.write_session() as session:
            made, _key = integrations.create(
                session, name=name or kind, kind=kind, actor="admin", service="checkout"
            )
            return made

    def send(self, integration: Integration, *alerts: IncomingAlert) -> list[str]:
        """Deliver `alerts`, run the engine; the incidents the delivery opened or joined."""
        with self.database.write_session() as session:
            fresh = session.get(Integration, integration.id)
            assert fresh is not None
            result = intake.deliver(session, delivery=Delivery(fresh, self.policy), alerts=alerts)
        self.room.run()
        return result.incidents

    def incidents(self) -> list[Incident]:
        with self.database.read_session() as session:
            return list(session.scalars(select(Incident).order_by(Incident.pk)))

    def alerts(self) -> list[Alert]:
        with self.database.read_session() as session:
            return list(session.scalars(select(Alert).order_by(Alert.id)))

    def incident(self, incident_id: str) -> Incident:
        [found] = [i for i in self.incidents() if i.id == incident_id]
        return found

    def acknowledge(self, incident_id: str, by: str = "alice") -> None:
        with self.database.write_session() as session:
            incident_flows.acknowledge(session, incident_id=incident_id, actor=by)
        self.room.run()

    def resolve(self, incident_id: str) -> None:
        self.room.resolve(incident_id)


@pytest.fixture
def desk(room: Room, default_policy: LoadedPolicy) -> Desk:
    return Desk(room, default_policy)


def pd(document: dict[str, Any]) -> IncomingAlert:
    """A PagerDuty Events v2 trigger as the sender wrote it, parsed as intake parses it."""
    payload = {"summary": "Checkout 5xx", "source": "lb-1", "severity": "critical"}
    body = {"routing_key": "k", "event_action": "trigger", **document}
    body["payload"] = {**payload, **document.get("payload", {})}
    return pagerduty.parse(body)[1]


def pd_resolve(dedup_key: str) -> IncomingAlert:
    return pagerduty.parse({"routing_key": "k", "event_action": "resolve", "dedup_key": dedup_key})[
        1
    ]


def am(group: str, *names: str, severity: str = "critical") -> list[IncomingAlert]:
    """An Alertmanager webhook delivery of one group."""
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": name, "severity": severity, "service": "checkout"},
            "annotations": {"summary": f"{name} firing"},
        }
        for name in names
    ]
    return alertmanager.parse({"version": "4", "groupKey": group, "alerts": alerts})


def generic(summary: str, **labels: str) -> IncomingAlert:
    return IncomingAlert(
        dedup_key=summary,
        event=AlertEvent.TRIGGER,
        summary=summary,
        source_severity="critical",
        labels=labels,
    )


# -- a group is one integration's ------------------------------------------------------------


def test_two_integrations_never_share_an_incident(desk: Desk) -> None:
    """Same sender group, same labels, same summary: still one incident per integration."""
    for kind in ("alertmanager", "grafana"):
        first, second = desk.integration(kind, f"{kind}-eu"), desk.integration(kind, f"{kind}-us")
        [a] = desk.send(first, *am('{}:{alertname="Down"}', "Down"))
        [b] = desk.send(second, *am('{}:{alertname="Down"}', "Down"))
        assert a != b
    one, two = desk.integration("generic", "scripts"), desk.integration("generic", "cron")
    assert desk.send(one, generic("Backup failed")) != desk.send(two, generic("Backup failed"))
    assert len(desk.incidents()) == 6


def test_an_acknowledged_incident_is_not_joined_by_another_integrations_critical_alert(
    desk: Desk,
) -> None:
    webhook, events = desk.integration("alertmanager"), desk.integration("pagerduty")
    [first] = desk.send(webhook, *am("{}:checkout", "CheckoutErrors"))
    desk.acknowledge(first)
    [second] = desk.send(events, pd({"dedup_key": "db-down", "payload": {"summary": "DB down"}}))
    assert second != first
    assert desk.incident(second).acknowledged_at is None  # a new incident pages afresh


# -- each kind as its original ---------------------------------------------------------------


def test_alertmanager_groups_by_the_senders_group_key(desk: Desk) -> None:
    webhook = desk.integration("alertmanager")
    [disk] = desk.send(webhook, *am('{}:{alertname="Disk"}', "DiskFull", "DiskSlow"))
    assert desk.send(webhook, *am('{}:{alertname="Disk"}', "DiskGone")) == [disk]
    [other] = desk.send(webhook, *am('{}:{alertname="Network"}', "DiskFull2"))
    assert other != disk


def test_pagerduty_opens_one_alert_and_one_incident_per_dedup_key(desk: Desk) -> None:
    """No alertname, no group: PagerDuty events used to share one group for the whole window."""
    events = desk.integration("pagerduty")
    [a] = desk.send(events, pd({"dedup_key": "api-5xx"}))
    [b] = desk.send(events, pd({"dedup_key": "db-lag", "payload": {"summary": "DB lag"}}))
    assert a != b
    assert desk.send(events, pd({"dedup_key": "api-5xx"})) == []  # a repeat: counted only
    assert [alert.count for alert in desk.alerts()] == [2, 1]


def test_pagerduty_groups_by_payload_group(desk: Desk) -> None:
    events = desk.integration("pagerduty")
    [a] = desk.send(events, pd({"dedup_key": "a", "payload": {"group": "checkout-db"}}))
    [b] = desk.send(events, pd({"dedup_key": "b", "payload": {"group": "checkout-db"}}))
    [c] = desk.send(events, pd({"dedup_key": "c", "payload": {"group": "search"}}))
    assert a == b != c


def test_a_routing_rules_group_by_groups_pagerduty_events(room: Room) -> None:
    desk = Desk(
        room,
        with_routing(
            "  rules:\n"
            "    - name: pagerduty by component\n"
            "      match: {integration_kind: pagerduty}\n"
            "      severity: P1\n"
            "      group_by: [component]\n"
        ),
    )
    events = desk.integration("pagerduty")
    [a] = desk.send(events, pd({"dedup_key": "a", "payload": {"component": "postgres"}}))
    [b] = desk.send(events, pd({"dedup_key": "b", "payload": {"component": "postgres"}}))
    [c] = desk.send(events, pd({"dedup_key": "c", "payload": {"component": "redis"}}))
    [d] = desk.send(events, pd({"dedup_key": "d"}))  # no component: a group of its own
    assert a == b and len({a, c, d}) == 3


def test_a_routing_rules_group_by_overrides_the_senders_group(room: Room) -> None:
    desk = Desk(
        room,
        with_routing(
            "  rules:\n"
            "    - match: {integration_kind: alertmanager}\n"
            "      severity: P1\n"
            "      group_by: [service]\n"
        ),
    )
    webhook = desk.integration("alertmanager")
    [a] = desk.send(webhook, *am("{}:one", "A"))
    [b] = desk.send(webhook, *am("{}:two", "B"))
    assert a == b  # both are service=checkout


def test_generic_alerts_without_the_group_by_labels_are_groups_of_their_own(
    desk: Desk,
) -> None:
    """The routing's group_by (alertname) groups those that have it; the others never merge."""
    scripts = desk.integration("generic")
    [a] = desk.send(scripts, generic("Backup failed"))
    [b] = desk.send(scripts, generic("Certificate expires"))
    [c] = desk.send(scripts, generic("Disk 91%", alertname="Disk"))
    [d] = desk.send(scripts, generic("Disk 95%", alertname="Disk"))
    assert len({a, b, c}) == 3 and c == d


def test_opsgenie_deduplicates_on_the_alias(desk: Desk) -> None:
    genie = desk.integration("opsgenie")

    def create(alias: str) -> IncomingAlert:
        body = opsgenie.validate(
            opsgenie.CreateAlert, {"message": "Queue stuck", "alias": alias, "priority": "P1"}
        )
        return opsgenie.to_incoming(body)

    [a] = desk.send(genie, create("queue-stuck"))
    desk.send(genie, create("queue-stuck"))
    [b] = desk.send(genie, create("queue-slow"))
    assert a != b  # no entity: each alias is its own
    assert [alert.count for alert in desk.alerts()] == [2, 1]


# -- after a resolve -------------------------------------------------------------------------


def test_a_trigger_after_resolve_opens_a_new_alert(desk: Desk) -> None:
    events = desk.integration("pagerduty")
    [incident] = desk.send(events, pd({"dedup_key": "api-5xx"}))
    desk.send(events, pd_resolve("api-5xx"))
    assert desk.send(events, pd({"dedup_key": "api-5xx"})) == [incident]  # still open: joins
    assert [(a.status, a.incident_id) for a in desk.alerts()] == [
        ("resolved", incident),
        ("firing", incident),
    ]


def test_an_alert_whose_groups_incident_is_resolved_opens_a_new_incident(desk: Desk) -> None:
    webhook = desk.integration("alertmanager")
    [first] = desk.send(webhook, *am("{}:checkout", "CheckoutErrors"))
    desk.resolve(first)
    [second] = desk.send(webhook, *am("{}:checkout", "CheckoutLatency"))
    assert second != first
    assert desk.incident(first).status == "resolved"


# -- joining an incident ---------------------------------------------------------------------


def test_an_alert_joining_an_acknowledged_incident_tells_the_acknowledger(desk: Desk) -> None:
    """Three alerts join in three deliveries: alice, who acknowledged, and carol, the
    commander, each get one message that counts all three."""
    events = desk.integration("pagerduty")
    [incident] = desk.send(events, pd({"dedup_key": "a", "payload": {"group": "checkout"}}))
    desk.acknowledge(incident, by="alice")
    desk.room.assign(incident, "commander", "carol")
    before = len(desk.room.inbox.messages)
    for key in ("b", "c", "d"):
        summary = f"Checkout node {key} down"
        event = pd({"dedup_key": key, "payload": {"group": "checkout", "summary": summary}})
        assert desk.send(events, event) == [incident]
        desk.room.move(seconds=10)
    assert len(desk.room.inbox.messages) == before  # still gathering the burst
    desk.room.move(minutes=1)
    for address in (ALICE_PUSH, CAROL_MAIL):
        [told] = [m for m in desk.room.inbox.to(address) if "joined" in m.subject]
        assert told.subject.startswith(f"3 new alerts joined {incident}")
        assert "Checkout node b down" in told.body and "Checkout node d down" in told.body
        assert "alice acknowledged it" in told.body
    desk.send(events, pd({"dedup_key": "e", "payload": {"group": "checkout"}}))
    desk.room.move(minutes=2)
    later = [m.subject for m in desk.room.inbox.to(ALICE_PUSH) if "joined" in m.subject]
    assert later[1:] == [f"1 new alert joined {incident}: Checkout 5xx"]


def test_alerts_joining_an_unacknowledged_incident_tell_nobody_more(desk: Desk) -> None:
    """Paging is still under way: the on-call is woken by the incident's own pages."""
    events = desk.integration("pagerduty")
    [incident] = desk.send(events, pd({"dedup_key": "a", "payload": {"group": "g"}}))
    desk.send(events, pd({"dedup_key": "b", "payload": {"group": "g"}}))
    desk.room.move(minutes=3)
    assert not [m for m in desk.room.inbox.messages if "joined" in m.subject]
    assert "alerts_joined" not in desk.room.clocks_of(incident)


def test_nobody_to_tell_about_a_join_goes_to_the_on_call(desk: Desk) -> None:
    """Acknowledged at the source, no commander: whoever a page would wake is told."""
    events = desk.integration("pagerduty")
    [incident] = desk.send(events, pd({"dedup_key": "a", "payload": {"group": "g"}}))
    desk.acknowledge(incident, by="integration:pagerduty")
    desk.send(events, pd({"dedup_key": "b", "payload": {"group": "g"}}))
    desk.room.move(minutes=2)
    # FRIDAY_10 is alice's week on the primary schedule.
    assert [m.subject for m in desk.room.inbox.to(ALICE_PUSH) if "joined" in m.subject]


def test_a_more_severe_alert_raises_the_incident_it_joins(desk: Desk) -> None:
    events = desk.integration("pagerduty")
    warning = {"severity": "error", "group": "checkout"}
    [incident] = desk.send(events, pd({"dedup_key": "a", "payload": warning}))
    assert desk.incident(incident).severity == "P1"
    desk.acknowledge(incident)
    desk.send(events, pd({"dedup_key": "b", "payload": {"group": "checkout"}}))  # critical
    assert desk.incident(incident).severity == "P0"
    [change] = desk.room.events(incident, "severity_changed")
    assert change["from"] == "P1" and change["to"] == "P0"
    assert "a more severe alert joined" in change["reason"]
    desk.send(events, pd({"dedup_key": "c", "payload": warning}))
    assert desk.incident(incident).severity == "P0"  # a milder one never lowers it


# -- a repeat trigger ------------------------------------------------------------------------


def test_a_repeat_trigger_updates_the_severity(desk: Desk) -> None:
    """PagerDuty's latest word on a dedup key wins: warning (notifies) then critical (pages)."""
    events = desk.integration("pagerduty")
    assert desk.send(events, pd({"dedup_key": "q", "payload": {"severity": "warning"}})) == []
    [alert] = desk.alerts()
    assert (alert.source_severity, alert.severity, alert.action) == ("warning", "P2", "notify")
    desk.send(events, pd({"dedup_key": "q", "payload": {"severity": "critical"}}))
    [alert] = desk.alerts()
    assert (alert.source_severity, alert.severity, alert.action) == ("critical", "P0", "page")
    assert alert.count == 2 and alert.incident_id is not None
    assert desk.incident(alert.incident_id).severity == "P0"


def test_a_more_severe_repeat_raises_its_incident(desk: Desk) -> None:
    events = desk.integration("pagerduty")
    [incident] = desk.send(events, pd({"dedup_key": "q", "payload": {"severity": "error"}}))
    desk.send(events, pd({"dedup_key": "q", "payload": {"severity": "critical"}}))
    assert desk.incident(incident).severity == "P0"
    assert len(desk.incidents()) == 1
