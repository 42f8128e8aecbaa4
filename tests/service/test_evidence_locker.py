"""The evidence locker on a real database (SQLite and PostgreSQL): attaching, custody,
retention from the policy, legal holds and the engine's purge, each on the incident's chain."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
import time_machine

from tocsin.db import Database
from tocsin.engine.retention import RetentionStep
from tocsin.errors import Conflict, InvalidInput
from tocsin.evidence import locker
from tocsin.evidence.locker import Attachment
from tocsin.evidence.storage import LocalStore
from tocsin.flows import incidents as flows
from tocsin.incidents import timeline
from tocsin.incidents.service import Declaration
from tocsin.policy.loader import load_policy

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
LOG = b"2026-11-20T09:58:01Z sshd[812]: Accepted publickey for root from 203.0.113.9\n\x00\xff"


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "evidence")


@pytest.fixture
def incident_id(database: Database, clock: time_machine.Coordinates) -> str:
    with database.write_session() as session:
        declaration = Declaration(title="Breach", severity="P0", type="security")
        return flows.declare(
            session, loaded=load_policy("proofkit"), declaration=declaration, actor="sec"
        ).id


def attach(
    database: Database, store: LocalStore, incident_id: str, data: bytes = LOG, **fields: str
) -> int:
    stored = store.put(BytesIO(data))
    attachment = Attachment(
        kind=fields.pop("kind", "log_export"), title=fields.pop("title", "auth.log"), **fields
    )
    with database.write_session() as session:
        return locker.add(
            session, incident_id=incident_id, attachment=attachment, stored=stored, actor="sec"
        ).id


def chain(database: Database, incident_id: str) -> list[tuple[str, dict[str, object]]]:
    with database.read_session() as session:
        return [(e.kind, e.data) for e in timeline.events(session, incident_id)]


def test_a_log_export_is_stored_by_its_hash_and_recorded_on_the_chain(
    database: Database, store: LocalStore, incident_id: str
) -> None:
    evidence_id = attach(database, store, incident_id, retention_class="security_logs")
    digest = hashlib.sha256(LOG).hexdigest()
    assert store.path_for(digest).read_bytes() == LOG
    kind, data = chain(database, incident_id)[-1]
    assert kind == "evidence_added"
    assert data["sha256"] == digest and data["size"] == len(LOG)
    assert data["evidence_id"] == evidence_id and data["retention_class"] == "security_logs"
    assert data["retain_until"] == "2027-11-20T10:00:00.000000Z"  # 1 year (365 days)
    with database.read_session() as session:
        (found,) = locker.items(session, incident_id)
        assert (found.added_by, found.added_at) == ("sec", T0)


def test_application_logs_are_kept_90_days_and_the_default_is_security_logs(
    database: Database, store: LocalStore, incident_id: str
) -> None:
    app = attach(database, store, incident_id, b"app", retention_class="application_logs")
    default = attach(database, store, incident_id, b"sec")
    with database.read_session() as session:
        assert locker.item(session, incident_id, app).retain_until == T0 + timedelta(days=90)
        found = locker.item(session, incident_id, default)
        assert found.retention_class == "security_logs"


def test_an_unknown_kind_or_class_is_refused_naming_what_is_allowed(
    database: Database, store: LocalStore, incident_id: str
) -> None:
    with pytest.raises(InvalidInput) as bad_class:
        attach(database, store, incident_id, retention_class="forever")
    assert bad_class.value.field == "retention_class"
    assert bad_class.value.allowed == ["application_logs", "security_logs"]
    with pytest.raises(InvalidInput) as bad_kind:
        attach(database, store, incident_id, kind="photo")
    assert bad_kind.value.field == "kind" and "snapshot" in (bad_kind.value.allowed or [])


def test_a_link_is_hashed_by_its_url(database: Database, incident_id: str) -> None:
    url = "https://grafana.example.com/d/auth?from=now-6h"
    with database.write_session() as session:
        found = locker.add(
            session,
            incident_id=incident_id,
            attachment=Attachment(kind="link", title="Auth dashboard", url=url),
            stored=None,
            actor="sec",
        )
        assert found.sha256 == hashlib.sha256(url.encode()).hexdigest()
    with database.write_session() as session, pytest.raises(InvalidInput) as bad:
        locker.add(
            session,
            incident_id=incident_id,
            attachment=Attachment(kind="link", title="x", url="file:///etc/passwd"),
            stored=None,
            actor="sec",
        )
    assert bad.value.field == "url"


def test_custody_is_viewed_exported_and_handed_over_on_the_chain(
    database: Database, store: LocalStore, incident_id: str
) -> None:
    evidence_id = attach(database, store, incident_id)
    with database.write_session() as session:
        locker.record_custody(
            session, incident_id=incident_id, evidence_id=evidence_id, action="viewed", actor="a"
        )
        locker.record_custody(
            session,
            incident_id=incident_id,
            evidence_id=evidence_id,
            action="handed_over",
            actor="a",
            to="Outside counsel (Kim Lee)",
            reason="litigation hold request",
        )
    with database.read_session() as session:
        steps = locker.custody(session, incident_id, evidence_id)
        assert [e.kind for e in steps] == [
            "evidence_added",
            "evidence_viewed",
            "evidence_handed_over",
        ]
        assert steps[-1].data["to"] == "Outside counsel (Kim Lee)"
    with database.write_session() as session, pytest.raises(InvalidInput) as nobody:
        locker.record_custody(
            session,
            incident_id=incident_id,
            evidence_id=evidence_id,
            action="handed_over",
            actor="a",
        )
    assert nobody.value.field == "to"


def test_retention_purges_on_the_chain_and_a_legal_hold_stops_it(
    database: Database,
    store: LocalStore,
    incident_id: str,
    clock: time_machine.Coordinates,
) -> None:
    evidence_id = attach(database, store, incident_id, retention_class="application_logs")
    digest = hashlib.sha256(LOG).hexdigest()
    with database.write_session() as session:
        locker.place_hold(session, incident_id=incident_id, reason="DPA inquiry", actor="legal")
    clock.shift(timedelta(days=91))
    step = RetentionStep(store)
    assert step.run_due(database) == 0
    assert store.exists(digest)
    with database.write_session() as session, pytest.raises(Conflict):
        locker.place_hold(session, incident_id=incident_id, reason="again", actor="legal")
    with database.write_session() as session:
        locker.release_hold(session, incident_id=incident_id, reason="closed", actor="legal")
    assert step.next_due(database) == T0 + timedelta(days=90)
    assert step.run_due(database) == 1
    assert not store.exists(digest)
    kinds = [kind for kind, _ in chain(database, incident_id)]
    assert kinds[-3:] == ["legal_hold_placed", "legal_hold_released", "evidence_purged"]
    purged = chain(database, incident_id)[-1][1]
    assert purged == {
        "evidence_id": evidence_id,
        "sha256": digest,
        "retention_class": "application_logs",
        "retain_until": "2027-02-18T10:00:00.000000Z",
    }
    assert step.run_due(database) == 0


def test_bytes_another_item_still_names_are_kept(
    database: Database, store: LocalStore, incident_id: str, clock: time_machine.Coordinates
) -> None:
    attach(database, store, incident_id, retention_class="application_logs")
    attach(database, store, incident_id, retention_class="security_logs")
    clock.shift(timedelta(days=91))
    assert RetentionStep(store).run_due(database) == 1
    assert store.exists(hashlib.sha256(LOG).hexdigest())


def test_verify_catches_altered_bytes_and_a_rewritten_hash(
    database: Database, store: LocalStore, incident_id: str
) -> None:
    from sqlalchemy import text

    from tocsin.evidence.verify import verify

    first = attach(database, store, incident_id)
    second = attach(database, store, incident_id, b"second file")
    with database.read_session() as session:
        report = verify(session, public_key=None, witness_files=[], store=store)
        assert report.intact, report.findings
    path = store.path_for(hashlib.sha256(LOG).hexdigest())
    path.chmod(0o600)
    path.write_bytes(b"nothing to see")
    forged = hashlib.sha256(b"forged").hexdigest()
    with database.engine.begin() as connection:
        connection.execute(
            text("UPDATE evidence_items SET sha256 = :s WHERE id = :i"), {"s": forged, "i": second}
        )
    with database.read_session() as session:
        report = verify(session, public_key=None, witness_files=[], store=store)
    assert [str(f) for f in report.findings or []] == [
        f"evidence #{first} of {incident_id}: its stored file does not hash to its SHA-256 "
        "(altered)",
        f"evidence #{second} of {incident_id}: its SHA-256 is not the one its timeline recorded",
    ]
