"""A database whose schema is older or newer than the code: the engine lease and /healthz
name the revisions and the fix, not a raw SQL error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tocsin import migrate
from tocsin.config import Settings
from tocsin.db import Database
from tocsin.engine import lease
from tocsin.engine.lease import Lease
from tocsin.policy.loader import LoadedPolicy
from tocsin.web.app import create_app
from tocsin.web.deps import Runtime


@pytest.fixture
def older(tmp_path: Path) -> Iterator[Database]:
    """A database migrated only up to the revision before the engine lease (0031)."""
    url = f"sqlite:///{tmp_path / 'older.db'}"
    migrate.upgrade(url, "0030")
    database = Database(url)
    yield database
    database.dispose()


def test_an_older_schema_is_named_with_its_fix(older: Database) -> None:
    expected = migrate.head_revision(older.url)
    with pytest.raises(lease.SchemaMismatch) as raised:
        lease.current_holder(older)
    message = str(raised.value)
    assert f"expects migration {expected}" in message
    assert "is at 0030" in message
    assert "tocsin db upgrade" in message


def test_an_engine_on_an_older_schema_stands_by_and_says_why(
    older: Database, caplog: pytest.LogCaptureFixture
) -> None:
    engine = Lease(older, "a" * 32)
    assert not engine.refresh()
    assert "database schema mismatch" in caplog.text and "tocsin db upgrade" in caplog.text


def test_a_newer_schema_is_named_too(older: Database) -> None:
    with older.write_session() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(lease.SchemaMismatch, match="is at 9999"):
        lease.current_holder(older)


def test_a_current_schema_has_no_problem(database: Database) -> None:
    assert lease.schema_problem(database) is None


def test_healthz_names_the_schema_problem(older: Database, default_policy: LoadedPolicy) -> None:
    runtime = Runtime(
        settings=Settings(database_url=older.url), database=older, policy=default_policy
    )
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        answer = client.get("/healthz")
    problem = answer.json()["engine_lease"]["problem"]
    assert "is at 0030" in problem and "tocsin db upgrade" in problem
