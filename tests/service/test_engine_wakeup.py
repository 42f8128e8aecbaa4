"""The engine is woken when work is committed, never before, and never misses a wake-up."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import text

from tocsin.db import Database, wakeup


def test_a_wake_up_waits_for_the_commit(database: Database) -> None:
    before = wakeup.generation()
    with database.write_session() as session:
        session.execute(text("SELECT 1"))
        wakeup.after_commit(session)
        assert wakeup.generation() == before, "woke the engine before the data was committed"
    assert wakeup.generation() != before


def test_a_rolled_back_transaction_wakes_nobody(database: Database) -> None:
    before = wakeup.generation()
    with pytest.raises(RuntimeError), database.write_session() as session:
        wakeup.after_commit(session)
        raise RuntimeError("the request failed")
    assert wakeup.generation() == before


def test_a_wake_up_while_the_engine_was_busy_is_not_lost() -> None:
    """The engine read the generation, worked, then went to sleep: a notify in between must
    make that sleep return at once, not after the full interval."""
    seen = wakeup.generation()
    wakeup.notify()  # arrives while the engine is "ticking"
    started = time.monotonic()
    wakeup.wait(5.0, unless_notified_since=seen)
    assert time.monotonic() - started < 1.0


def test_a_sleeping_engine_is_woken() -> None:
    seen = wakeup.generation()
    timer = threading.Timer(0.1, wakeup.notify)
    timer.start()
    started = time.monotonic()
    wakeup.wait(5.0, unless_notified_since=seen)
    timer.join()
    assert time.monotonic() - started < 2.0


def test_a_savepoint_is_not_the_commit(database: Database) -> None:
    """The intake writer stores each delivery under a savepoint: releasing it must not wake
    the engine (the data is not visible yet), and rolling one back must not drop the wake-up
    another delivery in the same transaction asked for."""
    before = wakeup.generation()
    with database.write_session() as session:
        stored = session.begin_nested()
        wakeup.after_commit(session)
        stored.commit()
        assert wakeup.generation() == before, "woke the engine at a savepoint release"
        failed = session.begin_nested()
        failed.rollback()
    assert wakeup.generation() != before, "the wake-up was lost"


COMMIT_IN_ANOTHER_PROCESS = """
import sys
from sqlalchemy import text
from tocsin.db import Database, wakeup
database = Database(sys.argv[1])
with database.write_session() as session:
    session.execute(text("SELECT 1"))
    wakeup.after_commit(session)
    if sys.argv[2] == "rollback":
        session.rollback()
"""


def commit_elsewhere(database: Database, outcome: str) -> None:
    subprocess.run(
        [sys.executable, "-c", COMMIT_IN_ANOTHER_PROCESS, database.url, outcome], check=True
    )


def test_a_commit_in_another_process_wakes_the_listening_engine(database: Database) -> None:
    """`serve --workers N`: a worker's commit wakes the engine in the lease holder's process
    (NOTIFY on PostgreSQL, a datagram on SQLite)."""
    listener = wakeup.Listener(database.url)
    listener.start()
    try:
        time.sleep(0.5)  # PostgreSQL: LISTEN is in place (it notifies once on connecting)
        before = wakeup.generation()
        commit_elsewhere(database, "commit")
        deadline = time.monotonic() + 5
        while wakeup.generation() == before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert wakeup.generation() != before, "the other process's commit woke nobody"
    finally:
        listener.stop()


def test_a_rollback_in_another_process_wakes_nobody(database: Database) -> None:
    listener = wakeup.Listener(database.url)
    listener.start()
    try:
        time.sleep(0.5)
        before = wakeup.generation()
        commit_elsewhere(database, "rollback")
        time.sleep(0.5)
        assert wakeup.generation() == before
    finally:
        listener.stop()
