"""Writers in several processes queue on the lock file, not in SQLite's busy handler.

Real processes on a real database file. The lock is SQLite's mechanism; on PostgreSQL the same
calls take no lock at all (the last tests show it).
"""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from tocsin.db import Database
from tocsin.db.writelock import lock_path

# A writer process. It waits for the go-file, so that both processes write at the same time,
# then commits `count` rows. Its connections give up at once on a locked database
# (busy_timeout 0), so any write that reached SQLite while the other process held the
# database fails with "database is locked": only the lock file can keep them apart.
WRITER = """
import json, os, sys, time
from sqlalchemy import event, text
from tocsin.db import Database

url, mode, count, go, me = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
database = Database(url, write_lock=mode)

@event.listens_for(database.engine, "connect")
def _give_up_at_once(dbapi_connection, _record):
    dbapi_connection.execute("PRAGMA busy_timeout=0")

open(f"{go}.{me}", "w").close()  # ready
while not os.path.exists(go):
    time.sleep(0.005)
commits, errors = 0, []
for n in range(count):
    try:
        with database.write_session() as session:
            session.execute(text("INSERT INTO writes VALUES (:w, :n)"), {"w": me, "n": n})
        commits += 1
    except Exception as exc:
        errors.append(str(exc).splitlines()[0])
database.dispose()
print(json.dumps({"commits": commits, "errors": errors[:3], "failed": len(errors)}))
"""

# Holds the write lock with a row written but not committed, until it is killed.
HOLDER = """
import sys, time
from sqlalchemy import event, text
from tocsin.db import Database

database = Database(sys.argv[1])
with database.write_session() as session:
    session.execute(text("INSERT INTO writes (writer, n) VALUES ('holder', 0)"))
    print("holding", flush=True)
    time.sleep(120)
"""

WRITES_PER_PROCESS = 300


def _database_file(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "tocsin.db"
    url = f"sqlite:///{path}"
    database = Database(url)
    with database.write_session() as session:
        session.execute(text("CREATE TABLE writes (writer TEXT, n INTEGER)"))
    database.dispose()
    return url, path


def _rows(url: str) -> int:
    database = Database(url)
    with database.read_session() as session:
        count = int(session.execute(text("SELECT count(*) FROM writes")).scalar_one())
    database.dispose()
    return count


def _contend(tmp_path: Path, url: str, mode: str) -> list[dict[str, Any]]:
    """Two writer processes, started together; what each reports."""
    go = tmp_path / f"go-{mode}"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, mode, str(WRITES_PER_PROCESS), str(go), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("first", "second")
    ]
    deadline = time.monotonic() + 60
    while not all(Path(f"{go}.{name}").exists() for name in ("first", "second")):
        assert time.monotonic() < deadline, "the writer processes never became ready"
        time.sleep(0.01)
    go.touch()
    reports = []
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        reports.append(json.loads(out))
    return reports


def test_two_processes_contend_and_every_write_commits(tmp_path: Path) -> None:
    url, _path = _database_file(tmp_path)
    reports = _contend(tmp_path, url, "file")
    assert [r["failed"] for r in reports] == [0, 0], reports
    assert [r["commits"] for r in reports] == [WRITES_PER_PROCESS] * 2
    assert _rows(url) == 2 * WRITES_PER_PROCESS


def test_without_the_lock_file_the_same_writers_collide(tmp_path: Path) -> None:
    """The check above can fail: with the lock off, the same two processes meet in SQLite."""
    url, _path = _database_file(tmp_path)
    reports = _contend(tmp_path, url, "off")
    failed = sum(r["failed"] for r in reports)
    assert failed > 0, reports
    assert any("database is locked" in e for r in reports for e in r["errors"]), reports
    assert _rows(url) == 2 * WRITES_PER_PROCESS - failed


def _lock_is_held(path: Path) -> bool:
    descriptor = os.open(lock_path(str(path)), os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def test_kill_9_of_the_lock_holder_releases_it(tmp_path: Path) -> None:
    url, path = _database_file(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        assert _lock_is_held(path)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        started = time.monotonic()
        database = Database(url)
        with database.write_session() as session:
            session.execute(text("INSERT INTO writes (writer, n) VALUES ('after', 1)"))
        database.dispose()
    finally:
        if holder.poll() is None:
            holder.kill()
    assert time.monotonic() - started < 5, "the next writer waited on a dead process's lock"
    assert not _lock_is_held(path)
    assert _rows(url) == 1, "the killed holder's uncommitted row must be gone"


def _give_up_at_once(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA busy_timeout=0")


def test_a_writer_queues_behind_a_holder_in_another_process(tmp_path: Path) -> None:
    """It waits at the lock file, not in SQLite (its busy_timeout is 0, so reaching SQLite
    while the holder is inside would fail at once), and commits once the holder is gone."""
    url, _path = _database_file(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True
    )
    done = threading.Event()

    def write() -> None:
        database = Database(url)
        event.listen(database.engine, "connect", _give_up_at_once)
        with database.write_session() as session:
            session.execute(text("INSERT INTO writes (writer, n) VALUES ('queued', 1)"))
        database.dispose()
        done.set()

    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        writer = threading.Thread(target=write)
        writer.start()
        assert not done.wait(1.0), "the writer did not wait for the other process's lock"
        holder.send_signal(signal.SIGKILL)
        assert done.wait(10)
        writer.join()
    finally:
        if holder.poll() is None:
            holder.kill()
    assert _rows(url) == 1


def test_a_forked_child_does_not_share_its_parents_lock(tmp_path: Path) -> None:
    url, _path = _database_file(tmp_path)
    database = Database(url)
    context = multiprocessing.get_context("fork")
    acquired: multiprocessing.Queue[float] = context.Queue()

    def child() -> None:
        with database.write_lock.held():  # the lock object the parent holds right now
            acquired.put(time.monotonic())

    with database.write_lock.held():
        process = context.Process(target=child)
        process.start()
        time.sleep(0.5)
        released = time.monotonic()
    process.join(10)
    database.dispose()
    assert acquired.get(timeout=5) >= released, "the child entered while the parent held it"


def test_the_lock_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOCSIN_SQLITE_WRITE_LOCK", "off")
    url = f"sqlite:///{tmp_path / 'tocsin.db'}"
    database = Database(url)
    with database.write_session() as session:
        session.execute(text("CREATE TABLE writes (writer TEXT, n INTEGER)"))
    database.dispose()
    assert not database.write_lock.across_processes
    assert not Path(lock_path(str(tmp_path / "tocsin.db"))).exists()


def test_an_unknown_lock_setting_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOCSIN_SQLITE_WRITE_LOCK", "flock")
    with pytest.raises(ValueError, match="TOCSIN_SQLITE_WRITE_LOCK must be one of file, off"):
        Database(f"sqlite:///{tmp_path / 'tocsin.db'}")


# --- both databases: SQLite queues writers, PostgreSQL lets them run side by side ------------


def test_a_second_writer_waits_on_sqlite_and_not_on_postgresql(database: Database) -> None:
    first_inside, second_done = threading.Event(), threading.Event()
    release = threading.Event()

    def first() -> None:
        with database.write_session() as session:
            session.execute(text("SELECT 1"))
            first_inside.set()
            release.wait(10)

    def second() -> None:
        with database.write_session() as session:
            session.execute(text("SELECT 1"))
        second_done.set()

    holder = threading.Thread(target=first)
    holder.start()
    assert first_inside.wait(10)
    other = threading.Thread(target=second)
    other.start()
    overlapped = second_done.wait(1.0)
    release.set()
    holder.join(10)
    other.join(10)
    assert second_done.is_set()
    if database.dialect == "sqlite":
        assert not overlapped, "SQLite writers must queue"
        assert database.write_lock.across_processes
    else:
        assert overlapped, "PostgreSQL writers must not queue on Tocsin's lock"
        assert not database.write_lock.across_processes
