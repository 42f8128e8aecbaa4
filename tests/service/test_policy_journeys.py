"""HarborList's and the default policy's runbooks, as their people receive them (SQLite and
PostgreSQL).

Time is held still and moved a minute at a time with the engine running in this process, as
in `test_communications.py`. Each test walks one severity of one bundled policy and checks,
for each thing the runbook says is sent, who receives it, when, in which words, and that it
arrives once. The contacts the runbooks leave blank are filled in the way a team adopting
the policy would: an on-call file for the people, a named channel for a team channel, and
(for `default`) the audiences' addresses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.service.test_communications import ADMIN, MONDAY_10, Room, room_at
from tests.service.test_grouping import pd
from tocsin.alerts import integrations
from tocsin.alerts.ingest import Delivery
from tocsin.alerts.models import Integration
from tocsin.db import Database
from tocsin.flows import communications, incidents, intake
from tocsin.notify import named_channels
from tocsin.policy.loader import LoadedPolicy, load_policy, load_policy_text

HANDLES = ["olive", "ann", "tess", "ian", "cora", "cecil", "tina", "carl"]

# olive is on call; ann the assigned engineer; tess the technical lead; ian the incident
# commander; cora the CTO (default: VP Engineering); cecil the CEO (default: the executive
# team); tina the team lead (default: the engineering manager); carl the communications lead.
ONCALL = (
    "people:\n"
    + "".join(
        f"  - handle: {h}\n    name: {h.title()}\n    contact_methods:\n"
        f"      - {{name: mail, kind: email, address: {h}@example.com}}\n"
        for h in HANDLES
    )
    + """\
schedules:
  - handle: primary
    name: Primary on-call
    layers:
      - name: primary
        rotation:
          kind: weekly
          handoff: "09:00"
          handoff_weekday: 0
          start: 2026-11-02
          participants: [olive]
escalation_policies:
  - handle: pager
    name: Pager
    default: true
    steps:
      - {after: 0m, targets: ["schedule:primary"]}
    targets:
      on_call_engineer: ["schedule:primary"]
      assigned_engineer: ["person:ann"]
      technical_lead: ["person:tess"]
      commander: ["person:ian"]
      cto: ["person:cora"]
      ceo: ["person:cecil"]
      team_lead: ["person:tina"]
      engineering_manager: ["person:tina"]
      vp_engineering: ["person:cora"]
      executive_team: ["person:cecil"]
services:
  - {handle: checkout, name: Checkout, escalation_policy: pager}
"""
)

TEAM = "channel:internal-team"
CUSTOMERS = "channel:customers"


@pytest.fixture
def room(database: Database) -> Iterator[Room]:
    for running in room_at(database, MONDAY_10):
        running.apply_oncall(ONCALL)
        with database.write_session() as session:
            for name in ("internal-team", "customers"):
                named_channels.add(
                    session,
                    name=name,
                    kind="webhook",
                    config={
                        "url": f"http://receiver.test/{name}",
                        "secret": f"{name}-signing-secret",
                    },
                    actor="admin",
                )
        yield running


def paged_at(room: Room, minutes: int) -> set[str]:
    """Who is paged in the next `minutes` minutes, each move a minute of engine time."""
    before = len(room.inbox.messages)
    room.move(minutes=minutes)
    return {m.address.split("@")[0] for m in room.inbox.messages[before:] if m.purpose == "page"}


def pages(room: Room) -> Counter[str]:
    return Counter(m.address for m in room.inbox.messages if m.purpose == "page")


def told(room: Room, address: str, subject: str) -> list[Any]:
    return [m for m in room.inbox.to(address) if m.subject == subject]


def mentions(room: Room, words: str) -> list[str]:
    """The lines of every message that mention `words`, in a subject or a body (a message
    sent with another to the same person is bundled into its body)."""
    return [
        line.strip().removeprefix("- ")
        for m in room.inbox.messages
        for line in [m.subject, *m.body.splitlines()]
        if words in line
    ]


def update(room: Room, incident_id: str, message: str, **options: Any) -> None:
    with room.database.write_session() as session:
        communications.publish_update(
            session,
            incident_id=incident_id,
            message=message,
            actor="carl",
            sending=room.sending,
            **options,
        )
    room.run()


def send(room: Room, incident_id: str, stage: str, **fields: str) -> None:
    with room.database.write_session() as session:
        communications.send_stage(
            session,
            incident_id=incident_id,
            stage_id=stage,
            actor="carl",
            sending=room.sending,
            fields=fields,
        )
    room.run()


# -- HarborList (seed 001) ---------------------------------------------------------------------


def test_harborlist_p0_alert_ladder_update_and_resolution(room: Room) -> None:
    harborlist = load_policy("harborlist")
    incident_id = room.declare(harborlist, "P0", services=["checkout"])
    # Initial Response: the on-call engineer, paged once. The INCIDENT ALERT goes to the
    # internal team's channel (Slack incident channel / email) in the runbook's words.
    assert pages(room) == {"olive@example.com": 1}
    (alert,) = room.inbox.to(TEAM)
    assert alert.subject == "INCIDENT ALERT - P0"
    for line in (
        "INCIDENT ALERT - P0",
        f"Incident ID: {incident_id}",
        "Summary: Checkout errors",
        "Status: Investigating",
    ):
        assert line in alert.body, line
    # Nobody holds the communications lead's role at declaration: the fallback hears of it.
    assert room.inbox.said(ADMIN, "Reached nobody: INCIDENT ALERT - P0")
    room.assign(incident_id, "communications_lead", "carl")

    assert paged_at(room, 29) == set()
    assert paged_at(room, 1) == {"tess", "ian"}, "Escalation (30 min): Technical Lead + IC"
    assert paged_at(room, 29) == set()
    assert paged_at(room, 1) == {"cora", "cecil"}, "Executive (1 hour): CTO + CEO"

    update(
        room,
        incident_id,
        "Rolled back the deploy",
        audience=["internal_team", "communications_lead"],
        fields={"next_steps": "Watch error rates", "eta": "30 minutes"},
    )
    for address in (TEAM, "carl@example.com"):
        (status,) = told(room, address, "INCIDENT UPDATE - P0")
        assert f"Incident ID: {incident_id}" in status.body
        assert "Progress: Rolled back the deploy" in status.body
        assert "Next Steps: Watch error rates" in status.body
        assert "ETA: 30 minutes" in status.body

    room.move(minutes=30)
    room.resolve(incident_id)
    for address in (TEAM, "carl@example.com"):
        (resolved,) = told(room, address, "INCIDENT RESOLVED")
        assert f"Incident ID: {incident_id}" in resolved.body
        assert "Duration: " in resolved.body

    room.move(hours=2)  # nothing is sent twice, and no one is paged after the resolution
    assert pages(room) == {f"{h}@example.com": 1 for h in ("olive", "tess", "ian", "cora", "cecil")}
    for address in (TEAM, "carl@example.com"):
        sent = Counter(m.subject for m in room.inbox.to(address) if m.subject.startswith("INC"))
        expected = {"INCIDENT UPDATE - P0": 1, "INCIDENT RESOLVED": 1}
        assert sent == ({"INCIDENT ALERT - P0": 1} | expected if address == TEAM else expected)


@pytest.mark.parametrize(
    ("severity", "ladder"),
    [
        ("P1", [{"olive"}, {"tess"}, {"cora"}]),  # on-call; Technical Lead; CTO
        ("P2", [{"ann"}, {"tina"}, {"tess"}]),  # assigned engineer; Team Lead; Technical Lead
        ("P3", [{"ann"}, {"tina"}, set()]),  # assigned engineer; Team Lead; no executive
    ],
)
def test_harborlist_escalation_matrix_and_alert_per_severity(
    room: Room, severity: str, ladder: list[set[str]]
) -> None:
    incident_id = room.declare(load_policy("harborlist"), severity, services=["checkout"])
    first = {m.address.split("@")[0] for m in room.inbox.messages if m.purpose == "page"}
    assert first == ladder[0], "Initial Response"
    (alert,) = room.inbox.to(TEAM)
    assert alert.subject == f"INCIDENT ALERT - {severity}"
    assert f"Incident ID: {incident_id}" in alert.body
    assert paged_at(room, 29) == set()
    assert paged_at(room, 1) == ladder[1], "Escalation (30 min)"
    assert paged_at(room, 29) == set()
    assert paged_at(room, 1) == ladder[2], "Executive (1 hour)"
    assert paged_at(room, 60) == set()
    room.resolve(incident_id)
    (resolved,) = room.inbox.to(TEAM)[1:]
    assert resolved.subject == "INCIDENT RESOLVED"
    assert len(room.inbox.to(TEAM)) == 2


# -- default (seed 004, completed) -------------------------------------------------------------

ADDRESSES = {
    "all_stakeholders": "stakeholders@example.com",
    "engineering": "eng@example.com",
    "product": "product@example.com",
    "security_team": "security@example.com",
    "legal_team": "legal@example.com",
}


def default_with_addresses() -> LoadedPolicy:
    """The default policy with its blank audiences given addresses, as a team adopting it does."""
    text = load_policy("default").text
    for audience, address in ADDRESSES.items():
        blank = f"{{id: {audience}, name: "
        assert text.count(blank) == 1, audience
        start = text.index(blank)
        end = text.index("email: null}", start)
        text = text[:end] + f"email: {address}}}" + text[end + len("email: null}") :]
    return load_policy_text(text, source="default-with-addresses")


def test_default_p0_stakeholders_ladder_updates_and_customers(room: Room) -> None:
    incident_id = room.declare(default_with_addresses(), "P0", services=["checkout"])
    # 0 min: the on-call paged; all stakeholders told (Phase 1, initial stakeholder notification).
    room.move(minutes=1)  # the engine's next pass
    assert pages(room) == {"olive@example.com": 1}
    (notice,) = room.inbox.to("stakeholders@example.com")
    assert notice.subject == f"[P0] {incident_id}: Checkout errors"
    # Not a security incident, and no data exposed: security, legal and the data-exposed prompt
    # are not owed.
    assert not room.inbox.to("security@example.com") and not room.inbox.to("legal@example.com")
    assert not any("data exposed" in m.subject for m in room.inbox.messages)
    # 1 hour: customer communication required, a prompt to the communications lead (none yet:
    # the on-call), on the engine's next pass.
    assert told(room, "olive@example.com", f"Send now: Customer communication ({incident_id})")
    room.assign(incident_id, "communications_lead", "carl")

    assert paged_at(room, 3) == set()
    assert paged_at(room, 1) == {"tina"}, "5 min: engineering manager"
    assert paged_at(room, 9) == set()
    assert paged_at(room, 1) == {"cora"}, "15 min: VP Engineering"
    room.move(minutes=9)  # 10:24: the 30-minute update is six minutes away
    reminder = f"Due in 6 min: Post an update within 30 minutes to All stakeholders ({incident_id})"
    assert told(room, "carl@example.com", reminder)
    update(room, incident_id, "Failing over the database")
    (_update,) = [m for m in room.inbox.to("stakeholders@example.com") if "Failing" in m.body]
    assert paged_at(room, 6) == {"cecil"}, "30 min: executive team"
    assert not any(
        s.startswith("Missed: Post an update") for s in room.inbox.subjects("carl@example.com")
    )

    send(room, incident_id, "customer", impact="Checkout fails for some customers")
    (customers,) = room.inbox.to(CUSTOMERS)
    assert customers.subject == "[P0] Investigating: Checkout errors"
    assert "We are investigating an issue affecting checkout." in customers.body
    assert "Impact: Checkout fails for some customers" in customers.body
    assert room.clocks_of(incident_id)["comms:P0:customer"] == "met"

    room.move(minutes=24)  # 10:55: the update after 10:25 was due; nobody posted it
    missed = f"Missed: Post an update within 30 minutes to All stakeholders ({incident_id})"
    assert len(told(room, "carl@example.com", missed)) == 1
    room.move(minutes=5)
    room.resolve(incident_id)
    prompt = f"Send now: Customer resolution notice ({incident_id})"
    assert len(told(room, "carl@example.com", prompt)) == 1
    send(room, incident_id, "customer-resolved")
    resolved = [m for m in room.inbox.to(CUSTOMERS) if "Resolved" in m.subject]
    assert [m.subject for m in resolved] == ["[P0] Resolved: Checkout errors"]
    assert "The issue affecting checkout has been resolved" in resolved[0].body

    room.move(hours=2)
    assert len(room.inbox.to("stakeholders@example.com")) == 2  # the notice and the update
    assert len(room.inbox.to(CUSTOMERS)) == 2
    assert sorted(pages(room).values()) == [1, 1, 1, 1]
    clocks = room.clocks_of(incident_id)
    assert clocks["comms:P0:customer-resolved"] == "met"
    assert clocks["comms:P0:data-exposed"] == "met", "owed to nobody: no data exposed"


def test_default_p1_engineering_and_product_and_customers_only_if_customer_facing(
    room: Room,
) -> None:
    default = default_with_addresses()
    plain = room.declare(default, "P1", services=["checkout"])
    facing = room.declare(default, "P1", services=["checkout"], flags={"customer_facing": True})
    for address in ("eng@example.com", "product@example.com"):  # Engineering and product teams
        assert {m.subject for m in room.inbox.to(address)} == {
            f"[P1] {plain}: Checkout errors",
            f"[P1] {facing}: Checkout errors",
        }
    assert not room.inbox.to("stakeholders@example.com")
    room.move(minutes=5)  # the prompt waits out the on-call's rate limit after two pages
    asked = mentions(room, "Send now: Customer communication (")
    assert asked == [f"Send now: Customer communication ({facing})"]
    assert room.clocks_of(plain)["comms:P1:customer"] == "met"

    # Each step pages for both incidents; one message a minute per address, so the second
    # page follows a minute later.
    assert paged_at(room, 24) == set()
    assert paged_at(room, 1) == {"tina"}, "30 min: engineering manager"
    assert paged_at(room, 1) == {"tina"}
    assert paged_at(room, 88) == set()
    assert paged_at(room, 1) == {"cora"}, "2 hours: VP Engineering"
    assert paged_at(room, 1) == {"cora"}
    assert pages(room) == {f"{h}@example.com": 2 for h in ("olive", "tina", "cora")}
    room.move(hours=2)  # 4 hours: customer communication if needed
    missed = [
        m.subject for m in room.inbox.messages if "Missed: Customer communication" in m.subject
    ]
    assert missed and all(facing in s for s in missed), "the plain one owed customers nothing"
    assert room.clocks_of(facing)["comms:P1:customer"] == "breached"


def test_default_security_incident_tells_security_and_legal(room: Room) -> None:
    default = default_with_addresses()
    breach = room.declare(default, "P1", type="security_breach")
    outage = room.declare(default, "P1", type="service_outage")
    for address in ("security@example.com", "legal@example.com"):
        assert [m.subject for m in room.inbox.to(address)] == [f"[P1] {breach}: Checkout errors"]
    assert outage not in {m.data["incident_id"] for m in room.inbox.to("security@example.com")}


def test_default_data_exposed_asks_for_the_customer_notification(room: Room) -> None:
    incident_id = room.declare(default_with_addresses(), "P0", flags={"data_exposed": True})
    room.move(minutes=1)
    prompt = f"Send now: Customer notification (data exposed) ({incident_id})"
    assert mentions(room, "Send now: Customer notification (data exposed)") == [prompt]


@pytest.mark.parametrize(("severity", "escalates"), [("P2", 240), ("P3", None)])
def test_default_p2_p3_tell_engineering_and_escalate_as_written(
    room: Room, severity: str, escalates: int | None
) -> None:
    incident_id = room.declare(default_with_addresses(), severity, services=["checkout"])
    (notice,) = room.inbox.to("eng@example.com")  # Communication: Engineering team
    assert notice.subject == f"[{severity}] {incident_id}: Checkout errors"
    assert not room.inbox.to("product@example.com") and not pages(room)
    if escalates is None:
        assert paged_at(room, 300) == set(), "Escalation: not required"
    else:
        assert paged_at(room, escalates - 1) == set()
        assert paged_at(room, 1) == {"tina"}, "within 4 hours if not resolved: the manager"
    assert len(room.inbox.to("eng@example.com")) == 1


def flag(room: Room, incident_id: str, **flags: Any) -> None:
    with room.database.write_session() as session:
        incidents.set_flags(
            session, incident_id=incident_id, flags=flags, actor="ic", sending=room.sending
        )
    room.run()


def test_default_data_exposed_found_later_reopens_the_customer_notification(room: Room) -> None:
    """The data-exposed stage opened at declaration owing nobody (no data exposed) and was
    met; exposure found 20 minutes in owes the customers that notice, within the hour from
    then, and the communications lead is asked once."""
    incident_id = room.declare(default_with_addresses(), "P0", services=["checkout"])
    room.assign(incident_id, "communications_lead", "carl")
    room.move(minutes=1)
    assert room.clocks_of(incident_id)["comms:P0:data-exposed"] == "met"
    assert not mentions(room, "Send now: Customer notification (data exposed)")

    room.move(minutes=19)
    flag(room, incident_id, data_exposed=True)
    prompt = f"Send now: Customer notification (data exposed) ({incident_id})"
    assert mentions(room, "Send now: Customer notification (data exposed)") == [prompt]
    assert room.clocks_of(incident_id)["comms:P0:data-exposed"] == "pending"
    assert room.due(incident_id, "comms:P0:data-exposed") == MONDAY_10 + timedelta(minutes=80)

    send(room, incident_id, "data-exposed")
    assert room.clocks_of(incident_id)["comms:P0:data-exposed"] == "met"
    flag(room, incident_id, data_exposed=None)
    flag(room, incident_id, data_exposed=True)  # set again: the customers have it already
    assert len(mentions(room, "Send now: Customer notification (data exposed)")) == 1
    assert room.clocks_of(incident_id)["comms:P0:data-exposed"] == "met"
    assert len(room.inbox.to(CUSTOMERS)) == 1


def test_customer_facing_found_later_prompts_for_the_customer_message(room: Room) -> None:
    default = default_with_addresses()
    incident_id = room.declare(default, "P1", services=["checkout"])
    room.move(minutes=5)
    assert room.clocks_of(incident_id)["comms:P1:customer"] == "met", "owed to nobody yet"
    flag(room, incident_id, customer_facing=True)
    room.move(minutes=5)  # the prompt waits out the on-call's rate limit
    asked = mentions(room, "Send now: Customer communication (")
    assert asked == [f"Send now: Customer communication ({incident_id})"]
    assert room.clocks_of(incident_id)["comms:P1:customer"] == "pending"
    flag(room, incident_id, personal_data_breach=True)  # no stage depends on it: no new ask
    room.move(minutes=5)
    assert len(mentions(room, "Send now: Customer communication (")) == 1


# -- default: Alert Routing ---------------------------------------------------------------------


def test_default_routes_alerts_as_its_template_lists_them(room: Room) -> None:
    """Critical pages the on-call; high also goes to the Slack channel and the engineering
    email; medium to the Slack channel only; low to the ticket system. Each once, however
    often the sender repeats it."""
    default = with_ticket_system(default_with_addresses())
    with room.database.write_session() as session:
        named_channels.add(
            session,
            name="alerts",
            kind="webhook",
            config={"url": "http://receiver.test/alerts", "secret": "alerts-signing-secret"},
            actor="admin",
        )
        made, _key = integrations.create(
            session, name="prometheus", kind="pagerduty", actor="admin", service="checkout"
        )
    for severity in ("critical", "error", "warning", "info", "warning"):
        with room.database.write_session() as session:
            fresh = session.get(Integration, made.id)
            assert fresh is not None
            payload = {"severity": severity, "summary": f"Checkout {severity}"}
            alert = pd({"dedup_key": f"{severity}-1", "payload": payload})
            intake.deliver(session, delivery=Delivery(fresh, default), alerts=[alert])
        room.run()
    room.move(minutes=2)

    chat = sorted(m.subject for m in room.inbox.to("channel:alerts"))
    assert chat == ["[Alert P2] Checkout warning", "[Paging alert P1] Checkout error"]
    (mail,) = [m for m in room.inbox.to("eng@example.com") if m.subject.startswith("[Paging")]
    assert mail.subject == "[Paging alert P1] Checkout error"
    assert "Routed by: High alerts → Slack channel + Email (page)" in mail.body
    (ticket,) = room.inbox.to("tickets@example.com")
    assert ticket.subject == "[Ticket P3] Checkout info"
    assert "From: prometheus (dedup key info-1)" in ticket.body
    assert pages(room)["olive@example.com"] >= 1, "critical and high page the on-call"
    about_alerts = [m for m in room.inbox.to(ADMIN) if "alert_id" in m.data]
    assert not about_alerts, "every alert audience had an address"


def with_ticket_system(loaded: LoadedPolicy) -> LoadedPolicy:
    text = loaded.text.replace(
        "{id: ticket_system, name: Ticket system, email: null}",
        "{id: ticket_system, name: Ticket system, email: tickets@example.com}",
    )
    return load_policy_text(text, source="default-with-tickets")


def test_an_alert_audience_without_an_address_is_told_to_the_admins(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOCSIN_ADMIN_EMAIL", ADMIN)
    with room.database.write_session() as session:
        made, _key = integrations.create(
            session, name="prometheus", kind="pagerduty", actor="admin", service="checkout"
        )
        fresh = session.get(Integration, made.id)
        assert fresh is not None
        alert = pd({"dedup_key": "info-1", "payload": {"severity": "info"}})
        intake.deliver(session, delivery=Delivery(fresh, load_policy("default")), alerts=[alert])
    room.run()
    (told_admin,) = room.inbox.to(ADMIN)
    assert told_admin.subject == "Reached nobody: [Ticket P3] Checkout 5xx"
    assert "Ticket system has no address" in told_admin.body
