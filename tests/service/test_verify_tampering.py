"""`tocsin verify` catches a timeline altered behind Tocsin's back, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.db import Database
from tocsin.flows import incidents as flows
from tocsin.incidents.service import Declaration
from tocsin.policy.loader import LoadedPolicy


@pytest.fixture
def incident_with_notes(database: Database, default_policy: LoadedPolicy) -> str:
    with database.write_session() as session:
        incident = flows.declare(
            session,
            loaded=default_policy,
            declaration=Declaration(title="Disk full", severity="P0"),
            actor="alice",
        )
        for n in range(1, 5):
            flows.add_note(session, incident_id=incident.id, text=f"step {n}", actor="alice")
        return incident.id


def run_verify(database: Database, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setenv("TOCSIN_DATABASE_URL", database.url)
    result = CliRunner().invoke(app, ["verify"])
    return result.exit_code, result.output


def tamper(database: Database, sql: str, **params: object) -> None:
    with database.engine.begin() as conn:
        conn.execute(text(sql), params)


def test_an_untouched_timeline_verifies(
    database: Database, incident_with_notes: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = run_verify(database, monkeypatch)
    assert code == 0, output
    assert "1 timelines verified" in output


def test_an_altered_row_is_named(
    database: Database, incident_with_notes: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tamper(
        database,
        "UPDATE timeline_events SET data = :data WHERE incident_id = :i AND seq = 3",
        data='{"text":"nothing to see"}',
        i=incident_with_notes,
    )
    code, output = run_verify(database, monkeypatch)
    assert code == 1
    assert f"BROKEN {incident_with_notes}: event #3: content does not match its hash" in output


def test_a_deleted_row_is_named(
    database: Database, incident_with_notes: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tamper(
        database,
        "DELETE FROM timeline_events WHERE incident_id = :i AND seq = 2",
        i=incident_with_notes,
    )
    code, output = run_verify(database, monkeypatch)
    assert code == 1
    assert f"BROKEN {incident_with_notes}: event #2: missing" in output


def test_a_swapped_pair_is_named(
    database: Database, incident_with_notes: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Swap the sequence numbers of events 3 and 4 (via a free number, to dodge the unique key).
    for old, new in ((3, 99), (4, 3), (99, 4)):
        tamper(
            database,
            "UPDATE timeline_events SET seq = :new WHERE incident_id = :i AND seq = :old",
            i=incident_with_notes,
            old=old,
            new=new,
        )
    code, output = run_verify(database, monkeypatch)
    assert code == 1
    assert f"BROKEN {incident_with_notes}: event #3: prev_hash does not match" in output


def test_a_deleted_latest_event_is_caught_by_the_chain_head(
    database: Database, incident_with_notes: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tamper(
        database,
        "DELETE FROM timeline_events WHERE incident_id = :i AND seq = 5",
        i=incident_with_notes,
    )
    code, output = run_verify(database, monkeypatch)
    assert code == 1
    assert "chain ends at #4 but the head is #5" in output
