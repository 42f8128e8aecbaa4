"""The engine's guards: a schema it does not know pauses it, a pass keeps to its time limit,
a pass that overruns is reported, and every engine says it is alive (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import text

from tocsin import migrate
from tocsin.db import Database
from tocsin.engine import loop, status
from tocsin.engine.loop import Engine, Watchdog, schema_check
from tocsin.engine.steps import clock_step
from tocsin.flows import incidents as flows
from tocsin.incidents.clocks import pending
from tocsin.incidents.service import Declaration
from tocsin.policy.loader import LoadedPolicy

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


class CountingStep:
    name = "counting"

    def __init__(self) -> None:
        self.runs = 0

    def run_due(self, database: Database, deadline: float | None = None) -> int:
        self.runs += 1
        return 0

    def next_due(self, database: Database) -> datetime | None:
        return None


@pytest.fixture
def older_schema(database: Database) -> Iterator[str]:
    """The database claims an older revision than this code's head, as during an upgrade."""
    head = migrate.head_revision(database.url)
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0007'"))
    yield "0007"
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})


def test_a_matching_schema_lets_the_engine_work(database: Database) -> None:
    assert schema_check(database)() is None
    step = CountingStep()
    Engine(database, [step]).tick()
    assert step.runs == 1


def test_a_schema_the_code_does_not_match_pauses_the_engine(
    database: Database, older_schema: str
) -> None:
    problem = schema_check(database)()
    assert problem is not None
    assert f"revision {older_schema}" in problem
    assert str(migrate.head_revision(database.url)) in problem

    step = CountingStep()
    engine = Engine(database, [step])
    report = engine.tick()
    assert step.runs == 0, "an engine on a schema it does not know must not process"
    assert report.handled == {}
    assert engine.paused == problem


def test_the_engine_resumes_once_the_schema_matches(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop, "SCHEMA_CHECK_EVERY_S", 0.0)
    answers = iter(["schema mismatch", None])
    step = CountingStep()
    engine = Engine(database, [step], schema=lambda: next(answers))
    engine.tick()
    assert (step.runs, engine.paused) == (0, "schema mismatch")
    engine.tick()
    assert (step.runs, engine.paused) == (1, None)


def test_a_pass_past_its_deadline_leaves_the_rest_due(
    database: Database, default_policy: LoadedPolicy
) -> None:
    with time_machine.travel(START, tick=False) as clock:
        with database.write_session() as session:
            declaration = Declaration(title="Disk full", severity="P2")
            incident = flows.declare(
                session, loaded=default_policy, declaration=declaration, actor="ic"
            )
            incident_id = incident.id
        clock.shift(timedelta(days=30))  # every clock of the incident is due now
        step = clock_step()
        assert step.run_due(database, deadline=time.monotonic() - 1) == 0
        with database.read_session() as session:
            assert pending(session, incident_id), "nothing due may be lost by a short pass"
        assert step.run_due(database, deadline=time.monotonic() + 60) > 0


def test_the_watchdog_reports_an_overrunning_pass_once() -> None:
    watchdog = Watchdog(stuck_after=0.0)
    assert watchdog.check() is None, "nothing is running"
    watchdog.started("clocks")
    warning = watchdog.check()
    assert warning is not None
    assert warning.startswith("engine possibly stuck: step clocks has been running for")
    assert watchdog.check() is None, "one warning per overrunning pass"
    watchdog.finished()
    assert watchdog.check() is None


def test_the_watchdog_is_quiet_within_the_limit() -> None:
    watchdog = Watchdog(stuck_after=3600.0)
    watchdog.started("outbox")
    assert watchdog.check() is None


def test_a_running_engine_says_it_is_alive(database: Database) -> None:
    engine = Engine(database, [CountingStep()], max_sleep=0.05)
    thread = engine.start_in_thread()
    try:
        deadline = time.monotonic() + 30
        while engine.passes < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert engine.passes >= 3
    finally:
        engine.stop()
        thread.join(timeout=10)
    (seen,) = status.seen(database, within=timedelta(minutes=5))
    assert seen.passes >= 3
    assert seen.paused is None
    assert seen.pid > 0
