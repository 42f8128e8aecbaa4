"""Shared fixtures. Every database test runs twice: on SQLite and on PostgreSQL.

PostgreSQL is required (never skipped): each test session creates its own throwaway database
on the server named by TOCSIN_TEST_PG, so parallel runs never see each other's rows.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tocsin import migrate
from tocsin.db import Base, Database
from tocsin.policy.loader import LoadedPolicy, load_policy

# The key that seals stored secrets, shared by every server and engine a test starts (they
# inherit the environment). On PostgreSQL Tocsin refuses to run without one; tests of the
# key's own rules (tests/unit/test_vault.py) set and clear it themselves.
os.environ.setdefault("TOCSIN_SECRET_KEY", Fernet.generate_key().decode())
# Evidence files the tests attach land in a throwaway directory, never in ./var of the tree.
os.environ.setdefault("TOCSIN_EVIDENCE_DIR", tempfile.mkdtemp(prefix="tocsin-evidence-"))

# The receivers tests send to listen on this machine; Tocsin refuses internal addresses unless
# they are allowed (tests/unit/test_outbound_guard.py checks the refusal with it unset).
os.environ.setdefault("TOCSIN_OUTBOUND_ALLOW", "127.0.0.0/8,::1/128")

PG_ADMIN_URL = os.environ.get("TOCSIN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_server_url(database: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    name = f"tocsin_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # fail loudly: a skipped PostgreSQL run would hide defects
        pytest.fail(f"PostgreSQL is required for the test suite ({PG_ADMIN_URL}): {exc}")
    url = _pg_server_url(name)
    migrate.upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "tocsin.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    return url


def _wipe(database: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        if database.dialect == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    _wipe(db)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def default_policy() -> LoadedPolicy:
    return load_policy("default")
