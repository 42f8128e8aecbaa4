"""Database engine, sessions and the declarative base shared by every domain.

SQLite (WAL) is the embedded default; PostgreSQL is production. Two kinds of transaction:

* `write_session()` takes the write lock up front on SQLite (BEGIN IMMEDIATE), so two writers
  never both read and then fail to upgrade their lock. Before that, it queues on a
  `WriteLock` (threads, then a lock file shared by every process on the database: see
  `tocsin.db.writelock`). PostgreSQL uses row locks instead.
* `read_session()` is a plain deferred transaction that never blocks writers in WAL mode.

Service functions take a session and never commit; whoever opened the session commits.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import Text, TypeDecorator

from tocsin.db.writelock import MODES as LOCK_MODES
from tocsin.db.writelock import WriteLock, mode_from_environment
from tocsin.timesource import as_utc

log = logging.getLogger(__name__)
T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always returned timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use tocsin.timesource.now()")
        value = as_utc(value)
        # SQLite has no time zones: store naive UTC so string comparison orders correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class CanonicalJSON(TypeDecorator[Any]):
    """JSON stored as text with sorted keys, identical on both databases."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


__all__ = ["Base", "CanonicalJSON", "Database", "UTCDateTime", "enable_memo", "remember"]

MEMO = "tocsin.db.memo"  # where a session keeps what remember() looked up


def enable_memo(session: Session) -> None:
    """Let remember() keep lookups for the rest of this session's transaction.

    For a transaction that repeats the same reads for many subjects (the engine firing a burst
    of escalation steps): what it looked up at the start is what it would read again, because
    nothing else it does changes those rows. Sessions that did not ask read afresh every time.
    """
    session.info[MEMO] = {}


def remember(session: Session, key: tuple[Any, ...], look_up: Callable[[], T]) -> T:
    """`look_up()`, or what it gave for `key` earlier in this transaction (see enable_memo)."""
    memo: dict[tuple[Any, ...], Any] | None = session.info.get(MEMO)
    if memo is None:
        return look_up()
    if key not in memo:
        memo[key] = look_up()
    value: T = memo[key]
    return value


def _prepare_sqlite_path(url: str) -> None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        Path(url[len(prefix) :]).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _install_sqlite_pragmas(engine: Engine, *, autocheckpoint: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy events below (pysqlite's own is broken).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


class WalCheckpointer:
    """Copies SQLite's write-ahead log back into the database file on a thread of its own.

    By default the connection whose commit fills the log past 1,000 pages does the copy (and
    its fsync) before that commit returns: in an alert storm, every few deliveries one sender
    waited for it. A PASSIVE checkpoint here runs beside the writers instead of in their way.
    """

    def __init__(self, path: str, interval_s: float = 0.5) -> None:
        self.path, self.interval_s = path, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval_s):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    log.warning("WAL checkpoint failed; retrying", exc_info=True)
        finally:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            connection.close()


class Database:
    """One engine per process plus the two session factories.

    `background_checkpoints` (SQLite, long-running processes): a WalCheckpointer thread keeps
    the write-ahead log short, so that no committing request pays for it.
    `write_lock` (SQLite): "file" queues writers across processes as well as threads, "off"
    queues this process's threads only; by default TOCSIN_SQLITE_WRITE_LOCK, else "file".
    """

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        background_checkpoints: bool = False,
        write_lock: str | None = None,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._checkpointer: WalCheckpointer | None = None
        if self.is_sqlite:
            _prepare_sqlite_path(url)
            self.engine = create_engine(
                url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
            )
            path = self.engine.url.database
            background = background_checkpoints and bool(path) and path != ":memory:"
            _install_sqlite_pragmas(self.engine, autocheckpoint=not background)
            if background and path:
                self._checkpointer = WalCheckpointer(path)
                self._checkpointer.start()
        else:
            self.engine = create_engine(
                url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True
            )
        write_engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self._writes = sessionmaker(bind=write_engine, expire_on_commit=False)
        self._reads = sessionmaker(bind=self.engine, expire_on_commit=False)
        # SQLite's busy handler lets newcomers overtake a waiting writer (measured: p99 of
        # ~1 s under 8 concurrent writers in one process; worse across processes, see
        # docs/performance.md). Queue writers in the kernel instead.
        self.write_lock = WriteLock(self._lock_file_base(write_lock))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A transaction that commits on success and rolls back on any error."""
        if not self.is_sqlite:
            with self._writes() as session, session.begin():
                yield session
            return
        with self.write_lock.held(), self._writes() as session, session.begin():
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        with self._reads() as session, session.begin():
            yield session

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()
        self.write_lock.close()

    def _lock_file_base(self, mode: str | None) -> str | None:
        """The database file whose writers queue together, or None to queue threads only."""
        mode = mode or mode_from_environment()
        if mode not in LOCK_MODES:
            raise ValueError(f"write_lock must be one of {', '.join(LOCK_MODES)}, not {mode!r}")
        path = self.engine.url.database if self.is_sqlite else None
        if not path or path == ":memory:" or mode == "off":
            return None
        return str(Path(path).expanduser().resolve())


def make_unpooled_engine(url: str) -> Engine:
    """An engine for one-off admin work (migrations) that leaves no pooled connections."""
    _prepare_sqlite_path(url)
    return create_engine(url, poolclass=NullPool)


# SQLSTATEs for "your transaction lost a race; run it again": serialization failure, deadlock.
RETRYABLE_SQLSTATES = ("40001", "40P01")


def is_retryable(exc: Exception) -> bool:
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return sqlstate in RETRYABLE_SQLSTATES


def upsert_insert(session: Session) -> Callable[[Any], postgresql.Insert | sqlite.Insert]:
    """The INSERT construct with ON CONFLICT support for the session's database.

    Both dialects spell `on_conflict_do_nothing/do_update` the same way, so callers write one
    statement for both.
    """
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert
