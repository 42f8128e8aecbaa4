"""Incident operations on a real database (each test runs on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from tocsin.db import Database
from tocsin.errors import Conflict, IllegalTransition, InvalidInput
from tocsin.flows import incidents as flows
from tocsin.incidents import service, timeline
from tocsin.incidents.service import Declaration
from tocsin.policy.loader import LoadedPolicy
from tocsin.timesource import now

pytestmark = pytest.mark.usefixtures("database")


def declare(database: Database, policy: LoadedPolicy, **fields: object) -> str:
    values: dict[str, object] = {"title": "Checkout is down", "severity": "P1", **fields}
    with database.write_session() as session:
        incident = flows.declare(
            session,
            loaded=policy,
            declaration=Declaration(**values),
            actor="alice",  # type: ignore[arg-type]
        )
        return incident.id


def is_clock(kind: str) -> bool:
    """Clock settlements interleave with the incident's own events."""
    return kind.startswith("clock") or kind == "escalated"


@time_machine.travel("2026-11-22 09:00Z", tick=False)
def test_declare_gives_a_dated_id_and_records_the_policy(
    database: Database, default_policy: LoadedPolicy
) -> None:
    first = declare(database, default_policy)
    second = declare(database, default_policy, severity="P0")
    assert (first, second) == ("INC-2026-11-22-01", "INC-2026-11-22-02")
    with database.read_session() as session:
        incident = service.get(session, first)
        assert incident.status == "investigating"
        assert incident.policy_hash == default_policy.hash
        assert incident.declared_at == now()
        assert incident.detected_at == incident.declared_at
        events = timeline.events(session, first)
    assert [e.kind for e in events] == ["declared"]
    assert events[0].data["severity"] == "P1"


def test_an_unknown_severity_lists_the_ladder(
    database: Database, default_policy: LoadedPolicy
) -> None:
    with pytest.raises(InvalidInput) as caught:
        declare(database, default_policy, severity="SEV9")
    assert caught.value.field == "severity"
    assert caught.value.allowed == ["P0", "P1", "P2", "P3"]


def test_impact_cannot_start_after_detection(
    database: Database, default_policy: LoadedPolicy
) -> None:
    with pytest.raises(InvalidInput) as caught:
        declare(
            database,
            default_policy,
            detected_at=now() - timedelta(hours=1),
            impact_started_at=now() - timedelta(minutes=10),
        )
    assert caught.value.field == "impact_started_at"


def test_the_full_lifecycle_records_each_fact(
    database: Database, default_policy: LoadedPolicy
) -> None:
    incident_id = declare(database, default_policy)
    steps = [("identified", "Bad deploy"), ("monitoring", "Rolled back"), ("resolved", "Stable")]
    with database.write_session() as session:
        flows.acknowledge(session, incident_id=incident_id, actor="bob")
    for status, message in steps:
        with database.write_session() as session:
            flows.change_status(
                session, incident_id=incident_id, status=status, message=message, actor="bob"
            )
    with database.write_session() as session:
        flows.change_status(
            session, incident_id=incident_id, status="closed", message="Done", actor="carol"
        )
    with database.read_session() as session:
        incident = service.get(session, incident_id)
        kinds = [e.kind for e in timeline.events(session, incident_id) if not is_clock(e.kind)]
    assert incident.status == "closed"
    assert incident.acknowledged_by == "bob"
    order = [
        incident.declared_at,
        incident.acknowledged_at,
        incident.mitigated_at,
        incident.resolved_at,
        incident.closed_at,
    ]
    assert all(order) and order == sorted(order)  # type: ignore[type-var]
    # The default policy's P1 owes a review: it opens on resolution (docs/reviews.md).
    assert kinds == ["declared", "acknowledged"] + ["status_changed"] * 3 + [
        "review_opened",
        "status_changed",
    ]


def test_reopen_clears_resolution_and_closed_is_final(
    database: Database, default_policy: LoadedPolicy
) -> None:
    incident_id = declare(database, default_policy)
    for status in ("resolved", "investigating", "resolved", "closed"):
        with database.write_session() as session:
            flows.change_status(
                session, incident_id=incident_id, status=status, message=status, actor="a"
            )
    with database.read_session() as session:
        kinds = [e.kind for e in timeline.events(session, incident_id)]
    assert kinds.count("reopened") == 1
    with pytest.raises(IllegalTransition) as caught, database.write_session() as session:
        flows.change_status(
            session, incident_id=incident_id, status="investigating", message="again", actor="a"
        )
    assert caught.value.allowed == []


def test_a_backdated_status_cannot_precede_the_declaration(
    database: Database, default_policy: LoadedPolicy
) -> None:
    incident_id = declare(database, default_policy)
    with pytest.raises(InvalidInput) as caught, database.write_session() as session:
        flows.change_status(
            session,
            incident_id=incident_id,
            status="resolved",
            message="fixed",
            actor="a",
            at=now() - timedelta(days=1),
        )
    assert caught.value.field == "at"


def test_acknowledging_twice_is_a_conflict(
    database: Database, default_policy: LoadedPolicy
) -> None:
    incident_id = declare(database, default_policy)
    with database.write_session() as session:
        flows.acknowledge(session, incident_id=incident_id, actor="bob")
    with (
        pytest.raises(Conflict, match="already acknowledged by bob"),
        database.write_session() as s,
    ):
        flows.acknowledge(s, incident_id=incident_id, actor="carol")


def test_severity_change_needs_a_known_severity_and_is_recorded_with_its_reason(
    database: Database, default_policy: LoadedPolicy
) -> None:
    incident_id = declare(database, default_policy)
    with database.write_session() as session:
        flows.change_severity(
            session, incident_id=incident_id, severity="P0", reason="All regions", actor="a"
        )
    with pytest.raises(InvalidInput), database.write_session() as session:
        flows.change_severity(
            session, incident_id=incident_id, severity="P9", reason="x", actor="a"
        )
    with database.read_session() as session:
        changes = [e for e in timeline.events(session, incident_id) if e.kind == "severity_changed"]
    assert len(changes) == 1
    last = changes[0]
    assert (last.kind, last.data) == (
        "severity_changed",
        {"from": "P1", "to": "P0", "reason": "All regions"},
    )


def test_roles_come_from_the_policy(database: Database, default_policy: LoadedPolicy) -> None:
    incident_id = declare(database, default_policy)
    role = default_policy.policy.role_ids()[0]
    with database.write_session() as session:
        flows.assign_role(session, incident_id=incident_id, role=role, assignee="dana", actor="a")
    with database.read_session() as session:
        assert service.get(session, incident_id).roles == {role: "dana"}
    with pytest.raises(InvalidInput) as caught, database.write_session() as session:
        flows.assign_role(session, incident_id=incident_id, role="wizard", assignee="x", actor="a")
    assert caught.value.allowed == default_policy.policy.role_ids()


def test_notes_append_to_the_chain(database: Database, default_policy: LoadedPolicy) -> None:
    incident_id = declare(database, default_policy)
    with database.write_session() as session:
        flows.add_note(session, incident_id=incident_id, text="Paged the DBA", actor="a")
    with database.read_session() as session:
        events = timeline.events(session, incident_id)
    assert events[1].prev_hash == events[0].hash
    assert events[1].data == {"text": "Paged the DBA"}
