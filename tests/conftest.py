"""Shared fixtures. Every database test runs twice: on SQLite and on PostgreSQL.

PostgreSQL is required (never skipped): each test session creates its own throwaway database
on the server named by TOCSIN_TEST_PG, so parallel runs never see each other's rows.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def create_postgresql_database(purpose: str) -> str:
    """A new database on the test server, migrated to head: its URL. Fails (never skips)
    when PostgreSQL is not there. drop_postgresql_database() removes it."""
    name = f"tocsin_{purpose}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # fail loudly: a skipped PostgreSQL run would hide defects
        pytest.fail(f"PostgreSQL is required for the test suite ({PG_ADMIN_URL}): {exc}")
    finally:
        admin.dispose()
    url = _pg_server_url(name)
    migrate.upgrade(url)
    return url


def drop_postgresql_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    url = create_postgresql_database("test")
    yield url
    drop_postgresql_database(url)


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


# -- S3-compatible object storage: moto's server, over a real socket ----------------------------

S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "tocsin-test-key",
    "AWS_SECRET_ACCESS_KEY": "tocsin-test-secret",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A local S3-compatible server (moto), started once on a free port: its URL."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@dataclass(frozen=True)
class S3Bucket:
    endpoint: str
    name: str
    client: Any

    @property
    def env(self) -> dict[str, str]:
        return {"TOCSIN_S3_ENDPOINT_URL": self.endpoint, **S3_CREDENTIALS}


def make_bucket(endpoint: str, *, object_lock: bool = False) -> S3Bucket:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_CREDENTIALS["AWS_REGION"],
        aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    name = f"tocsin-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
    return S3Bucket(endpoint, name, client)


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Bucket:
    """A fresh bucket, and Tocsin's environment pointed at the server with credentials."""
    bucket = make_bucket(s3_endpoint)
    for name, value in bucket.env.items():
        monkeypatch.setenv(name, value)
    return bucket


@pytest.fixture
def s3_locked_bucket(s3_bucket: S3Bucket) -> S3Bucket:
    """A fresh bucket with object lock (and so versioning) enabled."""
    return make_bucket(s3_bucket.endpoint, object_lock=True)
