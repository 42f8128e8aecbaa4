"""What-if, not a fix: serialise one process's SQLite writers on `Database._lock`.

Put this directory first on PYTHONPATH and every Python process started with it (the bench,
`tocsin serve`, `tocsin engine`) imports it at start-up:

    PYTHONPATH=bench/whatif/sqlite_write_lock .venv/bin/python -m bench --backend sqlite

Threads of one process then queue on a lock that wakes the next waiter at once, instead of
all polling SQLite's busy handler (which sleeps up to 100 ms between tries and lets late
arrivals overtake). See docs/performance.md for what it changes.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from tocsin import db as _db

_write_session = _db.Database.write_session


@contextmanager
def _locked_write_session(self: _db.Database) -> Iterator[Session]:
    if not self.is_sqlite:
        with _write_session(self) as session:
            yield session
        return
    with self._lock, _write_session(self) as session:
        yield session


_db.Database.write_session = _locked_write_session  # type: ignore[method-assign]
