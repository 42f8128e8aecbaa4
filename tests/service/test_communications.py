"""Every clock reaches a person (SQLite and PostgreSQL).

The engine's clock and outbox steps run in the test's process with time held still and moved
by the test; what leaves is recorded by a stand-in channel, as a person's inbox would see it.
Each test is one defect the runbooks' review found, or one duty of the communication tree.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from tocsin.db import Database
from tocsin.engine.steps import clock_step, outbox_step, sending
from tocsin.errors import InvalidInput
from tocsin.flows import communications
from tocsin.flows import incidents as flows
from tocsin.incidents import timeline
from tocsin.incidents.clocks import all_clocks
from tocsin.incidents.service import Declaration
from tocsin.notify.channels import DeliveryError, Message
from tocsin.oncall import service as oncall
from tocsin.oncall.config import OnCallConfig
from tocsin.policy.loader import LoadedPolicy, load_policy, load_policy_text, load_yaml_model

FIXTURE = Path(__file__).parent.parent / "fixtures" / "oncall.yaml"
URL = "http://tocsin.test"
ADMIN = "admins@example.com"
FRIDAY_10 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # bob's week in the fixture's rotation


class Inbox:
    """A channel that keeps what it is handed, and fails for the addresses it is told to."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refuse: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, message: Message) -> None:
        if message.address in self.refuse:
            raise DeliveryError("550 no such mailbox", permanent=True)
        with self._lock:
            self.messages.append(message)

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m.address == address]

    def subjects(self, address: str) -> list[str]:
        return [m.subject for m in self.to(address)]

    def said(self, address: str, words: str) -> bool:
        """Did `address` read `words`, in a subject or a body (a message bundled into
        another is listed at the end of that one's body)?"""
        return any(words in m.subject or words in m.body for m in self.to(address))


class Room:
    """The engine, in this process, on the test's clock."""

    def __init__(self, database: Database, clock: time_machine.Coordinates) -> None:
        self.database = database
        self.clock = clock
        self.inbox = Inbox()
        self.sending = sending(URL, (ADMIN,))
        self.clocks = clock_step(URL, (ADMIN,))
        self.outbox = outbox_step(URL, (ADMIN,), deliver=self.inbox)

    def run(self) -> None:
        for _ in range(20):
            if not self.clocks.run_due(self.database) + self.outbox.run_due(self.database):
                return

    def move(self, **delta: float) -> None:
        """Let time pass a minute at a time, the engine acting as it would live."""
        left = timedelta(**delta)
        while left > timedelta(0):
            step = min(left, timedelta(minutes=1))
            self.clock.shift(step)
            self.run()
            left -= step

    def declare(self, loaded: LoadedPolicy, severity: str, **fields: Any) -> str:
        with self.database.write_session() as session:
            declaration = Declaration(title="Checkout errors", severity=severity, **fields)
            incident = flows.declare(
                session, loaded=loaded, declaration=declaration, actor="ic", sending=self.sending
            )
            incident_id = incident.id
        self.run()
        return incident_id

    def clocks_of(self, incident_id: str) -> dict[str, str]:
        """key -> state of the latest clock with that key."""
        with self.database.read_session() as session:
            rows = sorted(all_clocks(session, incident_id), key=lambda c: c.id)
            return {c.key: c.state for c in rows}

    def due(self, incident_id: str, key: str) -> datetime:
        """The due time of the latest clock with that key."""
        with self.database.read_session() as session:
            rows = sorted(all_clocks(session, incident_id), key=lambda c: c.id)
            return [c for c in rows if c.key == key][-1].due_at

    def events(self, incident_id: str, kind: str) -> list[dict[str, Any]]:
        with self.database.read_session() as session:
            return [e.data for e in timeline.events(session, incident_id) if e.kind == kind]

    def apply_oncall(self, text: str | None = None) -> None:
        config = load_yaml_model(
            text or FIXTURE.read_text(), file="oncall.yaml", model=OnCallConfig
        )
        with self.database.write_session() as session:
            oncall.apply(session, config)

    def assign(self, incident_id: str, role: str, person: str) -> None:
        with self.database.write_session() as session:
            flows.assign_role(
                session, incident_id=incident_id, role=role, assignee=person, actor="ic"
            )

    def severity(self, incident_id: str, severity: str) -> None:
        with self.database.write_session() as session:
            flows.change_severity(
                session, incident_id=incident_id, severity=severity, reason="worse", actor="ic"
            )
        self.run()

    def resolve(self, incident_id: str) -> None:
        with self.database.write_session() as session:
            flows.change_status(
                session, incident_id=incident_id, status="resolved", message="fixed", actor="ic"
            )
        self.run()


def room_at(database: Database, start: datetime) -> Iterator[Room]:
    with time_machine.travel(start, tick=False) as clock:
        yield Room(database, clock)


@pytest.fixture
def room(database: Database) -> Iterator[Room]:
    yield from room_at(database, FRIDAY_10)


@pytest.fixture
def monday(database: Database) -> Iterator[Room]:
    yield from room_at(database, MONDAY_10)


# -- "immediately" is an act -----------------------------------------------------------------


def test_rastups_activation_is_sent_at_once_and_never_breaches(room: Room) -> None:
    incident_id = room.declare(load_policy("rastup"), "SEV3")
    assert room.clocks_of(incident_id)["comms_open:SEV3:activation"] == "fired"
    assert room.inbox.to("security@rastup.com"), "the security liaison is told at activation"
    room.move(minutes=5)
    assert room.events(incident_id, "clock_breached") == []


def test_rastup_sev4_asap_resolve_is_never_an_instant_breach(room: Room) -> None:
    incident_id = room.declare(load_policy("rastup"), "SEV4")
    room.move(seconds=30)
    assert room.clocks_of(incident_id)["resolve"] == "pending"
    assert room.due(incident_id, "resolve") == FRIDAY_10 + timedelta(hours=1)  # SEV3's hour


@pytest.mark.parametrize("severity", ["P2", "P3"])
def test_proofkits_business_hours_notice_in_business_hours_is_sent_not_breached(
    monday: Room, severity: str
) -> None:
    incident_id = monday.declare(load_policy("proofkit"), severity)
    assert monday.clocks_of(incident_id)[f"comms_open:{severity}:business_hours"] == "fired"
    assert monday.inbox.to("tech@proofkit.com"), "the technical lead's standing contact"
    monday.move(minutes=10)
    assert monday.events(incident_id, "clock_breached") == []


# -- flags --------------------------------------------------------------------------------------


def test_a_typod_flag_is_refused_and_names_the_allowed_flags(room: Room) -> None:
    incident_id = room.declare(load_policy("proofkit"), "P0")
    with pytest.raises(InvalidInput) as refused, room.database.write_session() as session:
        flows.set_flags(
            session,
            incident_id=incident_id,
            flags={"personal_data_breech": True},
            actor="security",
            sending=room.sending,
        )
    assert refused.value.field == "flags"
    assert "personal_data_breach" in (refused.value.allowed or [])
    assert "regulatory:gdpr" not in room.clocks_of(incident_id)


def test_a_regulatory_clock_tells_the_security_lead_when_it_starts(room: Room) -> None:
    incident_id = room.declare(load_policy("proofkit"), "P0", type=None)
    with room.database.write_session() as session:
        flows.set_flags(
            session,
            incident_id=incident_id,
            flags={"personal_data_breach": True},
            actor="security",
            sending=room.sending,
        )
    room.run()
    started = room.inbox.subjects("security@proofkit.com")
    assert any(s.startswith("Started: GDPR: notify") for s in started), started


# -- severity changes ------------------------------------------------------------------------


def test_raising_p1_to_p0_adds_the_security_officer(room: Room) -> None:
    proofkit = load_policy("proofkit")
    incident_id = room.declare(proofkit, "P1")
    assert not room.inbox.to("security@proofkit.com"), "P1 tells security only if security-related"
    room.move(minutes=5)
    room.severity(incident_id, "P0")
    assert room.inbox.to("security@proofkit.com"), "P0's immediate stage names the Security Officer"
    assert room.clocks_of(incident_id)["comms:P1:extended"] == "pending", "P1's stage still owed"


def test_raising_rastup_sev1_to_sev3_owes_the_exec_sms_list(room: Room) -> None:
    incident_id = room.declare(load_policy("rastup"), "SEV1")
    room.severity(incident_id, "SEV3")
    queued = [
        e
        for e in room.events(incident_id, "message_queued")
        if e["key"].endswith("SEV3:activation")
    ]
    assert queued and any("exec-sms" in p for p in queued[0]["problems"])
    told = room.inbox.to(ADMIN)
    assert any("exec-sms" in m.body for m in told), "what reached nobody goes to the fallback"


def test_an_update_clock_survives_a_raise_after_an_update(room: Room) -> None:
    default = load_policy("default")
    incident_id = room.declare(default, "P2")
    room.move(minutes=10)
    with room.database.write_session() as session:
        communications.publish_update(
            session, incident_id=incident_id, message="Looking", actor="cl", sending=room.sending
        )
    room.move(minutes=10)
    room.severity(incident_id, "P0")
    assert room.clocks_of(incident_id)["update"] == "pending"
    assert room.due(incident_id, "update") == FRIDAY_10 + timedelta(minutes=20 + 30)


def test_maxai_p1_enforces_both_of_its_cadences(room: Room) -> None:
    incident_id = room.declare(load_policy("maxai"), "P1")
    assert room.due(incident_id, "update") == FRIDAY_10 + timedelta(hours=2)
    assert room.due(incident_id, "update:incident-channel") == FRIDAY_10 + timedelta(hours=1)


# -- resolution --------------------------------------------------------------------------------


def test_a_fast_fix_still_owes_legal_leadership_and_customers(room: Room) -> None:
    incident_id = room.declare(load_policy("proofkit"), "P0")
    room.move(minutes=5)
    room.resolve(incident_id)
    clocks = room.clocks_of(incident_id)
    assert clocks["comms:P0:extended"] == "pending"
    assert clocks["comms_open:P0:external"] == "pending"
    assert clocks["acknowledge"] == "cancelled"
    room.move(minutes=10)
    for address in ("cs@proofkit.com", "leadership@proofkit.com", "legal@proofkit.com"):
        assert room.inbox.to(address), f"{address} is owed the extended notice"
    assert room.clocks_of(incident_id)["comms:P0:extended"] == "met"


# -- the communication tree --------------------------------------------------------------------


def test_the_security_officer_is_told_only_if_security_related(room: Room) -> None:
    proofkit = load_policy("proofkit")
    plain = room.declare(proofkit, "P1")
    security = room.declare(proofkit, "P1", flags={"security_related": True})
    room.move(minutes=30)
    told = {m.data["incident_id"] for m in room.inbox.to("security@proofkit.com")}
    assert told == {security}
    assert plain in {m.data["incident_id"] for m in room.inbox.to("cs@proofkit.com")}


def test_each_stage_of_proofkits_p0_tree_goes_out_on_time_exactly_once(room: Room) -> None:
    incident_id = room.declare(load_policy("proofkit"), "P0")
    assert room.inbox.to("tom@proofkit.com"), "the commander's standing contact, at once"
    assert not room.inbox.to("legal@proofkit.com")
    room.move(minutes=14)
    assert not room.inbox.to("legal@proofkit.com"), "the extended stage opens at 15 minutes"
    room.move(minutes=1)
    assert len(room.inbox.to("legal@proofkit.com")) == 1
    room.move(minutes=30)
    assert len(room.inbox.to("legal@proofkit.com")) == 1, "once, however often the engine runs"
    assert room.clocks_of(incident_id)["comms:P0:extended"] == "met"


def test_a_missed_stage_tells_the_commander_and_the_fallback(room: Room) -> None:
    room.inbox.refuse.add("cs@proofkit.com")
    incident_id = room.declare(load_policy("proofkit"), "P0")
    room.move(minutes=31)
    assert room.clocks_of(incident_id)["comms:P0:extended"] == "breached"
    assert room.inbox.said("tom@proofkit.com", "Missed: Extended Team Notification")
    assert any("cs@proofkit.com" in m.body for m in room.inbox.to(ADMIN))


def test_a_prompt_stage_asks_for_it_and_a_person_sends_it(room: Room) -> None:
    incident_id = room.declare(load_policy("proofkit"), "P0")
    room.move(minutes=30)
    prompts = room.inbox.subjects("tom@proofkit.com")
    assert "Send now: External Communications (" + incident_id + ")" in prompts
    with room.database.write_session() as session:
        communications.send_stage(
            session,
            incident_id=incident_id,
            stage_id="external",
            actor="comms",
            sending=room.sending,
            fields={"impact": "EU customers cannot upload CSVs"},
        )
    room.run()
    unreached = [m.body for m in room.inbox.to(ADMIN)]
    assert any("no notification channel named 'customers'" in body for body in unreached)


def test_the_communications_lead_is_reminded_before_an_update_is_due(room: Room) -> None:
    room.apply_oncall()
    incident_id = room.declare(load_policy("default"), "P0")
    room.assign(incident_id, "communications_lead", "carol")
    room.move(minutes=25)  # the 30-minute update is warned about 6 minutes before
    reminders = room.inbox.subjects("carol@example.com")
    assert any(s.startswith("Due in ") and "Post an update" in s for s in reminders), reminders


def test_a_published_update_uses_the_policys_template(room: Room) -> None:
    room.apply_oncall()
    incident_id = room.declare(load_policy("harborlist"), "P1")
    room.assign(incident_id, "commander", "carol")
    with room.database.write_session() as session:
        communications.publish_update(
            session,
            incident_id=incident_id,
            message="Rolled back the deploy",
            actor="cl",
            sending=room.sending,
            audience=["commander"],
            fields={"next_steps": "Watch error rates", "eta": "30 minutes"},
        )
    room.run()
    (update,) = [m for m in room.inbox.to("carol@example.com") if "UPDATE" in m.subject]
    assert update.subject == "INCIDENT UPDATE - P1"
    assert f"Incident ID: {incident_id}" in update.body
    assert "Progress: Rolled back the deploy" in update.body
    assert "Next Steps: Watch error rates" in update.body


def harborlist_with_a_bridge() -> LoadedPolicy:
    """HarborList, its conference bridge given a link (the runbook names the bridge only)."""
    text = load_policy("harborlist").text
    bridge = "{id: bridge, name: Conference bridge, kind: voice, purpose: Voice coordination}"
    assert bridge in text
    linked = bridge.replace("}", ", address: 'https://meet.example.com/harborlist-bridge'}")
    return load_policy_text(text.replace(bridge, linked), source="harborlist-with-bridge")


def test_the_conference_bridge_is_in_every_page_and_update(monday: Room) -> None:
    monday.apply_oncall()
    incident_id = monday.declare(harborlist_with_a_bridge(), "P0", services=["checkout"])
    pages = [m for m in monday.inbox.messages if m.purpose == "page"]
    assert pages and all(
        "Bridge: https://meet.example.com/harborlist-bridge" in m.body for m in pages
    )
    monday.assign(incident_id, "commander", "carol")
    with monday.database.write_session() as session:
        communications.publish_update(
            session,
            incident_id=incident_id,
            message="Rolled back the deploy",
            actor="cl",
            sending=monday.sending,
            audience=["commander"],
        )
    monday.run()
    (update,) = [m for m in monday.inbox.to("carol@example.com") if "UPDATE" in m.subject]
    assert update.body.rstrip().endswith("Bridge: https://meet.example.com/harborlist-bridge")


def test_without_a_bridge_link_no_bridge_line_is_sent(monday: Room) -> None:
    monday.apply_oncall()
    monday.declare(load_policy("harborlist"), "P0", services=["checkout"])
    assert not any("Bridge:" in m.body for m in monday.inbox.messages)


# -- paging ------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["harborlist", "default"])
def test_the_on_call_is_paged_once_across_two_ladders(monday: Room, policy: str) -> None:
    monday.apply_oncall()
    incident_id = monday.declare(load_policy(policy), "P0", services=["checkout"])
    pages = [m for m in monday.inbox.messages if m.purpose == "page"]
    assert {m.data["person"] for m in pages} == {"bob"}
    assert len({m.data["ack_url"] for m in pages}) == 1, "one acknowledge link"
    paged = monday.events(incident_id, "paged")
    assert any(e.get("already_paged") == {"bob": "page:1:1"} for e in paged) or any(
        "bob" in (e.get("already_paged") or {}) for e in paged
    )


def test_an_escalation_that_reaches_nobody_is_a_failure_told_to_the_admins(room: Room) -> None:
    incident_id = room.declare(load_policy("default"), "P0")  # no on-call file applied
    clocks = room.clocks_of(incident_id)
    assert clocks["escalation:P0:unresolved:1"] == "failed", "never shown as paged"
    assert room.inbox.said(ADMIN, "Reached nobody: Escalate to On-Call Engineer")
