"""Declaring writes the incident, its first event and every clock it owes in few statements
(issue #16: a storm declares hundreds a second), and still plans exactly the same clocks and
keeps the chain whole. Each test runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import event

from tocsin.db import Database
from tocsin.flows import incidents as flows
from tocsin.incidents import clocks, service, timeline
from tocsin.incidents.chain import state_digest
from tocsin.incidents.service import Declaration
from tocsin.oncall import service as oncall_service
from tocsin.oncall.config import OnCallConfig
from tocsin.policy import registry
from tocsin.policy.clock_kinds import ESCALATION, REGULATORY, kind_of
from tocsin.policy.deadlines import PlannedClock, plan_incident_clocks
from tocsin.policy.loader import LoadedPolicy, load_yaml_model
from tocsin.policy.models import PolicySnapshot
from tocsin.timesource import now

ONCALL = """\
people:
  - handle: pager
    name: Pager
    contact_methods:
      - {name: hook, kind: webhook, address: "https://hooks.example/page"}
    notification_rules:
      - {method: hook, after: 0m}
escalation_policies:
  - handle: storm
    name: The person, then again
    default: true
    repeat: 1
    repeat_after: 10m
    steps:
      - {after: 0m, targets: ["person:pager"]}
      - {after: 5m, targets: ["person:pager"]}
services:
  - {handle: checkout, name: Checkout, escalation_policy: storm}
"""


@pytest.fixture
def on_call(database: Database, default_policy: LoadedPolicy) -> Database:
    config = load_yaml_model(ONCALL, file="oncall.yaml", model=OnCallConfig)
    with database.write_session() as session:
        oncall_service.apply(session, config)
    return database


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()[:3]))

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", note)


def declare(database: Database, policy: LoadedPolicy, title: str = "Checkout is down") -> str:
    declaration = Declaration(title=title, severity="P1", services=["checkout"])
    with database.write_session() as session:
        return flows.declare(session, loaded=policy, declaration=declaration, actor="alice").id


@time_machine.travel("2026-11-22 09:00Z", tick=False)
def test_a_paging_declaration_inserts_every_clock_in_one_statement(
    on_call: Database, default_policy: LoadedPolicy
) -> None:
    declare(on_call, default_policy, "stores the policy snapshot")
    declare(on_call, default_policy, "sees it committed, and notes that")
    with statements(on_call) as seen:
        declare(on_call, default_policy)
    assert sum(s.startswith("INSERT INTO clocks") for s in seen) == 1
    assert not any(s.startswith("UPDATE incidents") for s in seen)
    assert not any("policy_snapshots" in s for s in seen)


@time_machine.travel("2026-11-22 09:00Z", tick=False)
def test_the_clocks_are_the_policys_then_the_paging_steps_in_order(
    on_call: Database, default_policy: LoadedPolicy
) -> None:
    incident_id = declare(on_call, default_policy)
    at = now()
    with on_call.read_session() as session:
        rows = sorted(clocks.all_clocks(session, incident_id), key=lambda c: c.id)
    planned = plan_incident_clocks(default_policy.policy, "P1", at)
    policy_rows, steps = rows[: len(planned)], rows[len(planned) :]
    assert [(c.kind, c.key, c.due_at) for c in policy_rows] == [
        (p.kind, p.key, p.due_at) for p in planned
    ]
    assert [(c.key, c.due_at - at, c.targets, c.stop_on) for c in steps] == [
        ("page:1:1", timedelta(0), ["person:pager"], "acknowledged"),
        ("page:1:2", timedelta(minutes=5), ["person:pager"], "acknowledged"),
        ("page:2:1", timedelta(minutes=15), ["person:pager"], "acknowledged"),
        ("page:2:2", timedelta(minutes=20), ["person:pager"], "acknowledged"),
    ]
    for clock in rows:
        lead = clocks.warning_lead(clock.due_at - at) if kind_of(clock.kind).warns else None
        assert clock.warn_at == (clock.due_at - lead if lead else None)
        assert clock.next_check_at == (clock.warn_at or clock.due_at)
        assert (clock.state, clock.starts_at) == ("pending", at)
        assert (clock.subject_type, clock.subject_id) == ("incident", incident_id)


def test_the_chain_head_and_row_digest_match_the_declared_event(
    on_call: Database, default_policy: LoadedPolicy
) -> None:
    incident_id = declare(on_call, default_policy)
    with on_call.read_session() as session:
        incident = service.get(session, incident_id)
        (declared,) = timeline.events(session, incident_id)
        assert (incident.last_event_seq, incident.last_event_hash) == (1, declared.hash)
        assert declared.state_hash == state_digest(incident)
        assert [found for _, found in timeline.verify_all(session)] == [None]


def test_a_policy_snapshot_inserted_by_a_rolled_back_declaration_is_stored_again(
    on_call: Database, default_policy: LoadedPolicy
) -> None:
    with pytest.raises(RuntimeError), on_call.write_session() as session:
        registry.remember(session, default_policy)
        registry.remember(session, default_policy)  # sees its own, uncommitted, insert
        raise RuntimeError("the declaration failed")
    incident_id = declare(on_call, default_policy)
    with on_call.read_session() as session:
        assert session.get(PolicySnapshot, default_policy.hash) is not None
        incident = service.get(session, incident_id)
        assert service.policy_of(session, incident).hash == default_policy.hash


def test_pending_of_a_family_reads_only_its_kinds(
    on_call: Database, default_policy: LoadedPolicy
) -> None:
    incident_id = declare(on_call, default_policy)
    with on_call.write_session() as session:
        incident = service.get(session, incident_id)
        planned = [
            PlannedClock(
                kind=kind,
                key=f"test-{kind}",
                due_at=now() + timedelta(hours=1),
                action="notify",
                label=kind,
                targets=(),
                stop_on=None,
            )
            for kind in ("regulatory:gdpr", "regulatory:fda", "update")
        ]
        clocks.start_all(session, incident, planned, now())
    with on_call.read_session() as session:
        found = clocks.pending_of(session, incident_id, REGULATORY)
        steps = clocks.pending_of(session, incident_id, ESCALATION)
    assert sorted(c.kind for c in found) == ["regulatory:fda", "regulatory:gdpr"]
    assert {c.kind for c in steps} == {"escalation"}
    assert [c.key for c in steps if c.key.startswith("page:")] == [
        "page:1:1",
        "page:1:2",
        "page:2:1",
        "page:2:2",
    ]
