"""The engine is woken when work is committed, never before, and never misses a wake-up."""

from __future__ import annotations

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
