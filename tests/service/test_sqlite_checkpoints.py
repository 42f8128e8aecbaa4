"""SQLite's write-ahead log is copied back by Tocsin's checkpointer thread, not by commits.

SQLite-only by nature: PostgreSQL has no such log to manage.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from tocsin.db import Database


def _fill(database: Database, rows: int) -> None:
    with database.write_session() as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS filler (payload TEXT)"))
        for _ in range(rows):
            session.execute(text("INSERT INTO filler VALUES (:p)"), {"p": "x" * 4000})


COPIED = 5_000_000  # bytes: ~1,500 pages of 4 KB filler, in the database file


def test_commits_leave_the_log_to_the_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.db"
    database = Database(f"sqlite:///{path}", background_checkpoints=True)
    try:
        _fill(database, 1500)  # ~1,500 pages: past the 1,000 at which a commit would copy
        size_after_commit = path.stat().st_size
        # Wait for the whole log to be copied, not just for the copy to begin: the
        # checkpointer writes the pages in steps, and a loaded machine is slow to finish.
        deadline = time.monotonic() + 30
        while path.stat().st_size <= COPIED and time.monotonic() < deadline:
            time.sleep(0.05)
        copied = path.stat().st_size
    finally:
        database.dispose()
    assert size_after_commit < 1_000_000, "the commit itself copied the log into the file"
    assert copied > COPIED, "the checkpointer never copied the log into the file"


def test_without_background_checkpoints_commits_copy_as_sqlite_does(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.db"
    database = Database(f"sqlite:///{path}")
    try:
        _fill(database, 1500)
        assert path.stat().st_size > 5_000_000
    finally:
        database.dispose()
