"""On-call on a real database: applying the file, who is on call, and paging (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from tocsin.db import Database
from tocsin.engine.steps import clock_step
from tocsin.flows import incidents as flows
from tocsin.incidents.service import Declaration
from tocsin.notify.models import Notification
from tocsin.oncall import service
from tocsin.oncall.config import OnCallConfig
from tocsin.policy.loader import LoadedPolicy, PolicyError, load_yaml_model

FIXTURE = Path(__file__).parent.parent / "fixtures" / "oncall.yaml"
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # week 4 of the rotation: bob's week


def config(text: str | None = None) -> OnCallConfig:
    return load_yaml_model(text or FIXTURE.read_text(), file="oncall.yaml", model=OnCallConfig)


def apply(database: Database, text: str | None = None) -> list[str]:
    with database.write_session() as session:
        return service.apply(session, config(text))


def test_applying_twice_changes_nothing_the_second_time(database: Database) -> None:
    first = apply(database)
    assert "created person alice" in first and "created schedule primary" in first
    assert apply(database) == []
    edited = (
        FIXTURE.read_text()
        .replace("Bob Lindqvist", "Bob L.")
        .replace("  - {handle: sre, name: SRE, members: [alice, bob]}\n", "  []\n")
    )
    assert apply(database, edited) == ["updated person bob", "removed team sre"]


def test_a_bad_file_names_the_line_and_field() -> None:
    broken = FIXTURE.read_text().replace("kind: webhook", "kind: pigeon", 1)
    with pytest.raises(PolicyError) as caught:
        config(broken)
    issue = caught.value.issues[0]
    assert issue.line == 8
    assert issue.field == "people[0].contact_methods[0].kind"


def test_an_unknown_person_in_a_rotation_is_refused() -> None:
    with pytest.raises(PolicyError, match="unknown person 'dave'"):
        config(
            FIXTURE.read_text().replace("participants: [alice, bob]", "participants: [alice, dave]")
        )


def test_who_is_on_call_follows_the_rotation_and_overrides(database: Database) -> None:
    apply(database)
    with database.write_session() as session:
        assert service.who_is_on_call(session, "primary", MONDAY) == "bob"
        assert service.who_is_on_call(session, "primary", MONDAY + timedelta(days=7)) == "alice"
        service.add_override(
            session,
            handle="primary",
            person="carol",
            actor="ic",
            start=MONDAY,
            end=MONDAY + timedelta(hours=2),
        )
    with database.read_session() as session:
        assert service.who_is_on_call(session, "primary", MONDAY + timedelta(hours=1)) == "carol"
        shifts = service.shifts(session, "primary", MONDAY, MONDAY + timedelta(hours=3))
    assert [(s.person, s.end - s.start) for s in shifts] == [
        ("carol", timedelta(hours=2)),
        ("bob", timedelta(hours=1)),
    ]


def declare(database: Database, policy: LoadedPolicy, severity: str) -> str:
    with database.write_session() as session:
        declaration = Declaration(title="Checkout down", severity=severity, services=["checkout"])
        return flows.declare(session, loaded=policy, declaration=declaration, actor="ic").id


def outbox(database: Database) -> list[tuple[str, str, str]]:
    with database.read_session() as session:
        rows = session.scalars(select(Notification).order_by(Notification.id))
        return [(n.idempotency_key, n.address, n.status) for n in rows]


def test_a_paging_incident_pages_the_on_call_by_their_rules_and_ack_stops_the_rest(
    database: Database, default_policy: LoadedPolicy
) -> None:
    apply(database)
    with time_machine.travel(MONDAY, tick=False) as clock:
        incident_id = declare(database, default_policy, "P1")  # P1 pages
        clock_step().run_due(database)
        queued = outbox(database)
        # The runbook's 0-minute step and the pager policy's first step both reach bob;
        # the outbox bundles identical pages to one address into one message.
        assert {address for _, address, _ in queued} == {"http://127.0.0.1:9/bob"}
        assert all(status == "pending" for _, _, status in queued)
        clock_step().run_due(database)  # nothing doubles
        assert outbox(database) == queued
        clock.shift(timedelta(minutes=5))
        with database.write_session() as session:
            flows.acknowledge(session, incident_id=incident_id, actor="bob")
        clock.shift(timedelta(minutes=15))
        clock_step().run_due(database)
        keys = [key for key, _, _ in outbox(database)]
        assert not any(f"{incident_id}/page:1:2/" in key for key in keys)  # carol never paged
        assert {status for _, _, status in outbox(database)} <= {"pending", "cancelled"}


def test_nobody_unacknowledged_escalates_to_the_next_step(
    database: Database, default_policy: LoadedPolicy
) -> None:
    apply(database)
    with time_machine.travel(MONDAY, tick=False) as clock:
        incident_id = declare(database, default_policy, "P1")
        clock_step().run_due(database)
        clock.shift(timedelta(minutes=16))
        clock_step().run_due(database)
    keys = [key for key, _, _ in outbox(database)]
    assert f"{incident_id}/page:1:2/carol/0" in keys


def test_a_target_nobody_answers_for_is_recorded_not_dropped(
    database: Database, default_policy: LoadedPolicy
) -> None:
    text = FIXTURE.read_text().replace('      executive_team: ["person:carol"]\n', "")
    apply(database, text)
    with time_machine.travel(MONDAY, tick=False) as clock:
        incident_id = declare(database, default_policy, "P0")
        clock.shift(timedelta(minutes=31))
        clock_step().run_due(database)
    with database.read_session() as session:
        from tocsin.incidents import timeline

        failed = [e.data for e in timeline.events(session, incident_id) if e.kind == "page_failed"]
    assert any("executive_team reaches nobody" in p for f in failed for p in f["problems"])
