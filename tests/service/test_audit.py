"""A record nobody can rewrite unseen: the four tampers a database administrator can do with
Tocsin's own chain functions (so every forged chain is internally consistent) are caught by
`tocsin verify` against the signed checkpoints and the witness (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.db import Database
from tocsin.evidence import signing
from tocsin.flows import incidents as flows
from tocsin.incidents.chain import GENESIS_HASH, canonical_event, link_hash
from tocsin.incidents.service import Declaration
from tocsin.policy.loader import LoadedPolicy


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "checkpoint.key"
    signing.generate(path)
    (tmp_path / "checkpoint.pub").write_bytes(
        signing.public_pem(signing.load_private(path).public_key())
    )
    return path


@pytest.fixture
def sealed(
    database: Database,
    default_policy: LoadedPolicy,
    key: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> list[str]:
    """Two incidents with notes, then a checkpoint written to a witness file."""
    monkeypatch.setenv("TOCSIN_DATABASE_URL", database.url)
    monkeypatch.setenv("TOCSIN_CHECKPOINT_KEY", str(key))
    monkeypatch.setenv("TOCSIN_WITNESS", f"file:{tmp_path / 'witness.jsonl'}")
    ids = []
    with database.write_session() as session:
        for title in ("Disk full", "Payments down"):
            incident = flows.declare(
                session,
                loaded=default_policy,
                declaration=Declaration(title=title, severity="P2"),
                actor="alice",
            )
            for n in range(1, 4):
                flows.add_note(session, incident_id=incident.id, text=f"step {n}", actor="alice")
            ids.append(incident.id)
    made = CliRunner().invoke(app, ["checkpoint", "create"])
    assert made.exit_code == 0, made.output
    return ids


def verify(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["verify", "--json", *args])
    return result.exit_code, json.loads(result.stdout)


def findings(report: dict[str, Any]) -> list[str]:
    return [f"{f['kind']} {f['where']}: {f['detail']}" for f in report["findings"]]


def sql(database: Database, statement: str, **params: object) -> None:
    with database.engine.begin() as connection:
        connection.execute(text(statement), params)


def rechain(database: Database, incident_id: str) -> None:
    """What a careful administrator does after editing events: recompute every hash with
    Tocsin's own functions, and move the incident's head to match."""
    with database.engine.begin() as connection:
        rows = connection.execute(
            text(
                "SELECT id, seq, kind, at, actor, data, state_hash FROM timeline_events "
                "WHERE incident_id = :i ORDER BY seq"
            ),
            {"i": incident_id},
        ).all()
        previous = GENESIS_HASH
        for row in rows:
            data = row.data if isinstance(row.data, dict) else json.loads(row.data)
            at = row.at if not isinstance(row.at, str) else _parse(row.at)
            canonical = canonical_event(
                incident_id=incident_id,
                seq=row.seq,
                kind=row.kind,
                at=at,
                actor=row.actor,
                data=data,
                state=row.state_hash,
            )
            digest = link_hash(previous, canonical)
            connection.execute(
                text("UPDATE timeline_events SET prev_hash = :p, hash = :h WHERE id = :id"),
                {"p": previous, "h": digest, "id": row.id},
            )
            previous = digest
        connection.execute(
            text("UPDATE incidents SET last_event_seq = :s, last_event_hash = :h WHERE id = :i"),
            {"s": rows[-1].seq, "h": previous, "i": incident_id},
        )


def _parse(value: str) -> datetime:
    """SQLite hands raw SQL back text (naive UTC); PostgreSQL hands back datetimes."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def test_an_untouched_record_verifies_with_its_checkpoint_and_witness(sealed: list[str]) -> None:
    code, report = verify()
    assert code == 0, report
    assert (report["incidents"], report["checkpoints"], report["witnessed"]) == (2, 1, 1)
    assert report["signatures_checked"] is True


def test_deleting_the_last_event_and_moving_the_head_back_is_caught(
    database: Database, sealed: list[str]
) -> None:
    incident = sealed[0]
    sql(database, "DELETE FROM timeline_events WHERE incident_id = :i AND seq = 4", i=incident)
    rechain(database, incident)
    code, report = verify()
    assert code == 1
    assert findings(report) == [f"rewritten {incident}: event #4, signed in a checkpoint, is gone"]


def test_rewriting_deleting_and_renumbering_events_then_rechaining_is_caught(
    database: Database, sealed: list[str]
) -> None:
    incident = sealed[1]
    sql(
        database,
        "UPDATE timeline_events SET data = :d WHERE incident_id = :i AND seq = 2",
        d=json.dumps({"text": "nothing happened"}),
        i=incident,
    )
    sql(database, "DELETE FROM timeline_events WHERE incident_id = :i AND seq = 3", i=incident)
    sql(
        database,
        "UPDATE timeline_events SET seq = 3 WHERE incident_id = :i AND seq = 4",
        i=incident,
    )
    rechain(database, incident)
    code, report = verify()
    assert code == 1
    assert f"rewritten {incident}: event #4, signed in a checkpoint, is gone" in findings(report), (
        findings(report)
    )


@pytest.mark.parametrize(
    ("column", "value", "field"),
    [
        ("title", "Nothing to see", "title"),
        ("severity", "P3", "severity"),
        ("status", "closed", "status"),
        ("acknowledged_by", "mallory", "acknowledged_by"),
        ("summary", "rewritten", None),
    ],
)
def test_editing_the_incident_row_is_caught_and_named(
    database: Database, sealed: list[str], column: str, value: str, field: str | None
) -> None:
    incident = sealed[0]
    sql(database, f"UPDATE incidents SET {column} = :v WHERE id = :i", v=value, i=incident)
    code, report = verify()
    assert code == 1
    (finding,) = report["findings"]
    assert (finding["kind"], finding["where"]) == ("row", incident)
    expected = (
        f"the incident's {field} is not what its timeline records"
        if field
        else "the incident row was changed after its last event (state digest)"
    )
    assert finding["detail"] == expected


def test_deleting_a_whole_incident_is_caught(database: Database, sealed: list[str]) -> None:
    incident = sealed[1]
    for table in ("clocks", "timeline_events"):
        sql(database, f"DELETE FROM {table} WHERE incident_id = :i", i=incident)
    sql(database, "DELETE FROM incidents WHERE id = :i", i=incident)
    code, report = verify()
    assert code == 1
    assert findings(report) == [f"deleted {incident}: a signed incident is missing (deleted)"]


def test_deleting_the_checkpoints_too_leaves_the_witness_disagreeing(
    database: Database, sealed: list[str]
) -> None:
    sql(database, "DELETE FROM timeline_events WHERE incident_id = :i AND seq = 4", i=sealed[0])
    rechain(database, sealed[0])
    sql(database, "DELETE FROM checkpoints")
    code, report = verify()
    assert code == 1
    assert any("checkpoint #1 is witnessed but not in the database" in f for f in findings(report))


def test_a_checkpoint_re_signed_without_the_key_fails_its_signature(
    database: Database, sealed: list[str], tmp_path: Path
) -> None:
    other = tmp_path / "mallory.key"
    forged = signing.generate(other)
    sql(
        database,
        "UPDATE checkpoints SET signature = :s",
        s=signing.sign(forged, b"anything"),
    )
    code, report = verify()
    assert code == 1
    assert any("signature is not valid" in f for f in findings(report))


def test_the_auditor_bundle_verifies_with_no_database(sealed: list[str], tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    exported = CliRunner().invoke(app, ["evidence", "export", sealed[0], "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    nowhere = tmp_path / "no-such-dir" / "tocsin.db"
    env = {**os.environ, "TOCSIN_DATABASE_URL": f"sqlite:///{nowhere}"}
    env.pop("TOCSIN_CHECKPOINT_KEY")
    command = [str(Path(sys.executable).parent / "tocsin"), "evidence", "verify", str(out)]
    command += ["--public-key", str(tmp_path / "checkpoint.pub")]
    checked = subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "verifies against the public key" in checked.stdout
    assert not nowhere.parent.exists(), "the auditor's machine needs no database"

    timeline = json.loads((out / "timeline.json").read_text())
    timeline[1]["data"] = {"text": "edited in the bundle"}
    (out / "timeline.json").write_text(json.dumps(timeline))
    tampered = subprocess.run(
        command, check=False, env=env, capture_output=True, text=True, timeout=120
    )
    assert tampered.returncode == 1
    assert "timeline.json does not match the manifest" in tampered.stderr


def test_events_after_the_checkpoint_are_reported_as_not_yet_signed(
    database: Database, sealed: list[str], tmp_path: Path
) -> None:
    with database.write_session() as session:
        flows.add_note(session, incident_id=sealed[0], text="after", actor="alice")
    out = tmp_path / "later"
    CliRunner().invoke(app, ["evidence", "export", sealed[0], "--out", str(out)])
    result = CliRunner().invoke(
        app, ["evidence", "verify", str(out), "--public-key", str(tmp_path / "checkpoint.pub")]
    )
    assert result.exit_code == 0, result.output
    assert "1 event(s) after the checkpoint are chained but not yet signed" in result.output


def test_the_engine_signs_when_due_and_only_if_something_moved(
    database: Database, default_policy: LoadedPolicy, key: Path, tmp_path: Path
) -> None:
    from datetime import timedelta

    from tocsin.engine.checkpoints import CheckpointStep
    from tocsin.evidence import checkpoints

    witness_file = tmp_path / "w.jsonl"
    step = CheckpointStep(signing.load_private(key), [f"file:{witness_file}"], timedelta(0))
    assert step.run_due(database) == 1, "the first checkpoint is due at once"
    assert step.run_due(database) == 0, "nothing moved since"
    with database.write_session() as session:
        flows.declare(
            session,
            loaded=default_policy,
            declaration=Declaration(title="Later", severity="P2"),
            actor="alice",
        )
    assert step.run_due(database) == 1
    with database.read_session() as session:
        assert checkpoints.latest(session).number == 2  # type: ignore[union-attr]
    assert len(witness_file.read_text().splitlines()) == 2
