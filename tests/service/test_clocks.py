"""Clocks from the policy, settled by incident events and by the engine (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session

from tocsin.db import Database
from tocsin.engine.clocks import PENDING
from tocsin.engine.loop import Engine
from tocsin.engine.steps import clock_step, sending
from tocsin.flows import communications
from tocsin.flows import incidents as flows
from tocsin.incidents import timeline
from tocsin.incidents.clocks import all_clocks
from tocsin.incidents.models import Clock
from tocsin.incidents.service import Declaration
from tocsin.policy.loader import LoadedPolicy, load_policy

FRIDAY_10 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

SENDING = sending("http://tocsin.test")


@pytest.fixture
def proofkit() -> LoadedPolicy:
    return load_policy("proofkit")


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(FRIDAY_10, tick=False) as traveller:
        yield traveller


def declare(database: Database, loaded: LoadedPolicy, severity: str, **fields: object) -> str:
    with database.write_session() as session:
        declaration = Declaration(title="Outage", severity=severity, **fields)  # type: ignore[arg-type]
        return flows.declare(session, loaded=loaded, declaration=declaration, actor="ic").id


def clocks(database: Database, incident_id: str) -> dict[str, tuple[str, datetime]]:
    """key -> (state, due_at) of the latest clock with that key."""
    with database.read_session() as session:
        rows = sorted(all_clocks(session, incident_id), key=lambda c: c.id)
        return {c.key: (c.state, c.due_at) for c in rows}


def events(database: Database, incident_id: str, kind: str) -> list[dict[str, object]]:
    with database.read_session() as session:
        return [e.data for e in timeline.events(session, incident_id) if e.kind == kind]


def tick(database: Database) -> int:
    return clock_step().run_due(database)


def test_proofkit_p1_gets_its_runbook_targets(
    database: Database, proofkit: LoadedPolicy, clock: time_machine.Coordinates
) -> None:
    incident_id = declare(database, proofkit, "P1")
    found = clocks(database, incident_id)
    assert found["acknowledge"] == ("pending", FRIDAY_10 + timedelta(minutes=30))
    assert found["resolve"] == ("pending", FRIDAY_10 + timedelta(hours=4))


def test_acknowledging_in_time_meets_the_clock_and_stops_escalation(
    database: Database, proofkit: LoadedPolicy, clock: time_machine.Coordinates
) -> None:
    incident_id = declare(database, proofkit, "P1")
    clock.shift(timedelta(minutes=10))
    with database.write_session() as session:
        flows.acknowledge(session, incident_id=incident_id, actor="oncall")
    found = clocks(database, incident_id)
    assert found["acknowledge"][0] == "met"
    assert all(
        state == "cancelled"
        for key, (state, _) in found.items()
        if key.startswith("escalation:unacknowledged")
    )
    assert events(database, incident_id, "clock_met")[0]["key"] == "acknowledge"


def test_the_engine_warns_then_breaches_exactly_once(
    database: Database, proofkit: LoadedPolicy, clock: time_machine.Coordinates
) -> None:
    incident_id = declare(database, proofkit, "P1")
    clock.shift(timedelta(minutes=25))  # ack due at 30 min; warning a fifth before, at 24 min
    tick(database)
    warnings = {w["key"]: w for w in events(database, incident_id, "clock_warning")}
    assert warnings["acknowledge"]["minutes_left"] == 5
    assert "resolve" not in warnings  # due at 4 h: its warning comes later
    clock.shift(timedelta(minutes=6))
    tick(database)
    tick(database)
    breaches = [b["key"] for b in events(database, incident_id, "clock_breached")]
    assert breaches.count("acknowledge") == 1
    assert "resolve" not in breaches
    assert clocks(database, incident_id)["acknowledge"][0] == "breached"


def test_breaches_that_fell_due_while_the_engine_was_down_are_caught_up(
    database: Database, proofkit: LoadedPolicy, clock: time_machine.Coordinates
) -> None:
    incident_id = declare(database, proofkit, "P1")
    clock.shift(timedelta(hours=5))  # nothing ran for five hours
    Engine(database, [clock_step()]).tick()  # a freshly started engine
    found = clocks(database, incident_id)
    assert found["acknowledge"][0] == "breached"
    assert found["resolve"][0] == "breached"
    with database.read_session() as session:
        resolve = next(c for c in all_clocks(session, incident_id) if c.key == "resolve")
    assert resolve.settled_at == FRIDAY_10 + timedelta(hours=4)  # when it was really missed


def test_an_update_meets_the_clock_and_rearms_it(
    database: Database, proofkit: LoadedPolicy, clock: time_machine.Coordinates
) -> None:
    loaded = load_policy("maxai")  # P1 updates every 2 hours
    incident_id = declare(database, loaded, "P1")
    clock.shift(timedelta(minutes=90))
    with database.write_session() as session:
        communications.publish_update(
            session, incident_id=incident_id, message="Mitigating", actor="cl", sending=SENDING
        )
    with database.read_session() as session:
        updates = [c for c in all_clocks(session, incident_id) if c.key == "update"]
    assert [(c.state, c.due_at) for c in updates] == [
        ("met", FRIDAY_10 + timedelta(hours=2)),
        ("pending", FRIDAY_10 + timedelta(minutes=90) + timedelta(hours=2)),
    ]


def test_resolving_starts_the_review_clock(
    database: Database, proofkit: LoadedPolicy, clock: time_machine.Coordinates
) -> None:
    incident_id = declare(database, proofkit, "P1")
    clock.shift(timedelta(hours=1))
    with database.write_session() as session:
        flows.change_status(
            session, incident_id=incident_id, status="resolved", message="fixed", actor="ic"
        )
    found = clocks(database, incident_id)
    assert found["resolve"][0] == "met"
    assert found["review"] == ("pending", FRIDAY_10 + timedelta(hours=1 + 48))
    assert found["acknowledge"][0] == "cancelled"


def test_a_personal_data_breach_flag_starts_the_gdpr_clock_from_awareness(
    database: Database, proofkit: LoadedPolicy, clock: time_machine.Coordinates
) -> None:
    incident_id = declare(database, proofkit, "P0", type="security")
    clock.shift(timedelta(minutes=30))
    aware = FRIDAY_10 - timedelta(minutes=48)  # 09:12 UTC
    with database.write_session() as session:
        flows.set_flags(
            session,
            incident_id=incident_id,
            flags={"personal_data_breach": True},
            aware_at=aware,
            actor="security",
            sending=SENDING,
        )
    found = clocks(database, incident_id)
    assert found["regulatory:gdpr"] == ("pending", aware + timedelta(hours=72))
    assert "regulatory:fda" not in found  # only for device-related incidents
    with database.write_session() as session:
        flows.complete_clock(
            session, incident_id=incident_id, key="regulatory:gdpr", note="Filed", actor="dpo"
        )
    assert clocks(database, incident_id)["regulatory:gdpr"][0] == "met"


def test_a_severity_change_replans_from_the_change(
    database: Database, proofkit: LoadedPolicy, clock: time_machine.Coordinates
) -> None:
    incident_id = declare(database, proofkit, "P2")
    clock.shift(timedelta(minutes=20))
    with database.write_session() as session:
        flows.change_severity(
            session, incident_id=incident_id, severity="P0", reason="wider", actor="ic"
        )
    found = clocks(database, incident_id)
    changed_at = FRIDAY_10 + timedelta(minutes=20)
    assert found["acknowledge"] == ("pending", changed_at + timedelta(minutes=15))
    assert found["resolve"] == ("pending", changed_at + timedelta(hours=1))


def test_rastup_sev0_has_no_resolve_clock(
    database: Database, clock: time_machine.Coordinates
) -> None:
    rastup = load_policy("rastup")
    assert "resolve" not in clocks(database, declare(database, rastup, "SEV0"))
    assert clocks(database, declare(database, rastup, "SEV3"))["resolve"] == (
        "pending",
        FRIDAY_10 + timedelta(hours=1),
    )


def test_two_engines_racing_never_double_a_breach(
    database: Database, proofkit: LoadedPolicy, clock: time_machine.Coordinates
) -> None:
    ids = [declare(database, proofkit, "P1") for _ in range(20)]
    clock.shift(timedelta(hours=5))
    barrier = threading.Barrier(2)

    def engine() -> None:
        barrier.wait()
        for _ in range(5):
            clock_step().run_due(database)

    threads = [threading.Thread(target=engine) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for incident_id in ids:
        keys = [b["key"] for b in events(database, incident_id, "clock_breached")]
        assert sorted(keys) == sorted(set(keys)), f"doubled breach on {incident_id}: {keys}"
        assert {"acknowledge", "resolve"} <= set(keys)


def test_a_crash_between_settling_and_recording_leaves_nothing_half_done(
    database: Database,
    proofkit: LoadedPolicy,
    clock: time_machine.Coordinates,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    incident_id = declare(database, proofkit, "P1")
    clock.shift(timedelta(hours=5))

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("process died mid-write")

    with monkeypatch.context() as patched:
        patched.setattr("tocsin.incidents.clocks.timeline.append", crash)
        assert tick(database) == 0  # the failure is contained and logged
    assert clocks(database, incident_id)["acknowledge"][0] == "pending"
    assert events(database, incident_id, "clock_breached") == []

    tick(database)  # the restarted engine
    assert clocks(database, incident_id)["acknowledge"][0] == "breached"
    keys = [b["key"] for b in events(database, incident_id, "clock_breached")]
    assert keys.count("acknowledge") == 1


def test_one_incident_that_fails_to_settle_leaves_the_others_in_its_transaction_settled(
    database: Database,
    proofkit: LoadedPolicy,
    clock: time_machine.Coordinates,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = [declare(database, proofkit, "P1") for _ in range(5)]
    bad = ids[2]
    clock.shift(timedelta(hours=5))
    real_append = timeline.append

    def append(session: object, *, incident: object, **fields: object) -> object:
        if getattr(incident, "id", None) == bad and fields.get("kind") == "clock_breached":
            raise RuntimeError("this incident's row is broken")
        return real_append(session, incident=incident, **fields)  # type: ignore[arg-type]

    with monkeypatch.context() as patched:
        patched.setattr("tocsin.incidents.clocks.timeline.append", append)
        assert tick(database) > 0  # all five share a transaction; four of them settle
    for incident_id in ids:
        state = clocks(database, incident_id)["acknowledge"][0]
        assert state == ("pending" if incident_id == bad else "breached"), incident_id
    assert events(database, bad, "clock_breached") == []

    tick(database)  # the broken row mended: it comes round again, once
    assert clocks(database, bad)["acknowledge"][0] == "breached"
    keys = [b["key"] for b in events(database, bad, "clock_breached")]
    assert keys.count("acknowledge") == 1


def test_an_engine_pass_over_a_large_burst_yields_between_turns(
    database: Database,
    proofkit: LoadedPolicy,
    clock: time_machine.Coordinates,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given a deadline (as the engine's loop gives), a pass ends after its turn even with
    more due, so the outbox sends the first pages of a burst while the rest still fire."""
    ids = [declare(database, proofkit, "P1") for _ in range(6)]
    clock.shift(timedelta(hours=5))
    monkeypatch.setattr("tocsin.engine.clocks.SLICE_S", 0.0)
    monkeypatch.setattr("tocsin.engine.clocks.SUBJECTS_PER_TRANSACTION", 2)
    monkeypatch.setattr("tocsin.engine.clocks.TRANSACTION_S", 60.0)
    step = clock_step()
    far = time.monotonic() + 60
    turns = []
    while handled := step.run_due(database, far):
        turns.append(handled)
    assert len(turns) == 3, turns  # one transaction of two incidents a turn
    assert all(clocks(database, i)["acknowledge"][0] == "breached" for i in ids)


def test_the_pending_clock_queries_use_the_partial_index_in_generic_plans(
    database: Database, proofkit: LoadedPolicy, clock: time_machine.Coordinates
) -> None:
    """A bound 'pending' leaves PostgreSQL's generic plan unable to use the partial index
    (it would scan every clock ever settled); the engine writes it as a literal. (On a table
    this small the planner may pick either of the pending-only indexes.)"""
    if database.dialect != "postgresql":
        pytest.skip("plan_cache_mode is PostgreSQL's")
    declare(database, proofkit, "P1")
    engine_queries = [
        select(Clock.id).where(Clock.state == PENDING, Clock.next_check_at <= FRIDAY_10),
        select(func.min(Clock.next_check_at)).where(Clock.state == PENDING),
    ]
    bound = select(Clock.id).where(Clock.state == "pending", Clock.next_check_at <= FRIDAY_10)

    def generic_plan(session: Session, query: Select[Any], name: str) -> str:
        sql = str(query.compile(dialect=session.get_bind().dialect))
        names = re.findall(r"%\((\w+)\)s", sql)
        for number, param in enumerate(names, start=1):
            sql = sql.replace(f"%({param})s", f"${number}")
        types = ", ".join("text" if "state" in p else "timestamptz" for p in names)
        session.execute(text(f"PREPARE {name}{f'({types})' if types else ''} AS {sql}"))
        args = ", ".join("'pending'" if "state" in p else "now()" for p in names)
        rows = session.execute(text(f"EXPLAIN EXECUTE {name}{f'({args})' if args else ''}"))
        return "\n".join(row[0] for row in rows)

    with database.read_session() as session:
        session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        session.execute(text("SET LOCAL enable_seqscan = off"))
        for number, query in enumerate(engine_queries):
            plan = generic_plan(session, query, f"engine_{number}")
            assert re.search(r"Index.* Scan using \w+_pending_", plan), plan  # a partial index
        assert "_pending_" not in generic_plan(session, bound, "bound")


def test_maxai_legal_is_owed_notice_within_an_hour_of_a_confirmed_breach(
    database: Database, clock: time_machine.Coordinates
) -> None:
    maxai = load_policy("maxai")
    incident_id = declare(database, maxai, "P0")
    clock.shift(timedelta(hours=3))
    confirmed = FRIDAY_10 + timedelta(hours=1, minutes=50)
    with database.write_session() as session:
        flows.set_flags(
            session,
            incident_id=incident_id,
            flags={"confirmed_breach": True},
            aware_at=confirmed,
            actor="security",
            sending=SENDING,
        )
    assert clocks(database, incident_id)["regulatory:legal"] == (
        "pending",
        confirmed + timedelta(hours=1),
    )
    tick(database)  # ten minutes later it is already overdue
    assert clocks(database, incident_id)["regulatory:legal"][0] == "breached"
