"""One queue for the writers of a SQLite database: the threads of a process, and its processes.

SQLite lets one writer in at a time. A writer that finds the database locked is handed to the
busy handler, which sleeps and retries with growing back-off (up to 100 ms a nap): it does not
wake when the lock is freed, and a newcomer arriving just then overtakes it. With several
processes writing, a waiting writer can sleep long after the lock came free and throughput
collapses (bench/sqlite_writers.py measures it).

So a writer queues here before it begins (BEGIN IMMEDIATE), and leaves after COMMIT or
ROLLBACK:

1. a thread lock, so the threads of one process queue cheaply among themselves;
2. then `flock(LOCK_EX)` on `<database>.writelock`, a blocking wait in the kernel that wakes
   as soon as the holder lets go, so SQLite's busy handler is never needed between Tocsin
   processes.

The kernel drops a flock when its holder's file is closed, which includes the holder dying by
`kill -9`: no stale lock can outlive the process that held it, and the lock file itself holds
no state (it is never deleted, and may be). Writers that do not take it (migrations, an older
Tocsin, the sqlite3 shell) still meet SQLite's busy handler as before.

`TOCSIN_SQLITE_WRITE_LOCK=off` leaves only the thread lock, as Tocsin was before.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

ENVIRONMENT = "TOCSIN_SQLITE_WRITE_LOCK"
MODES = ("file", "off")
SUFFIX = ".writelock"


def mode_from_environment() -> str:
    """`file` (the default) or `off`, from TOCSIN_SQLITE_WRITE_LOCK."""
    mode = os.environ.get(ENVIRONMENT, "file").strip().lower() or "file"
    if mode not in MODES:
        raise ValueError(f"{ENVIRONMENT} must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def lock_path(database_path: str) -> str:
    return database_path + SUFFIX


class WriteLock:
    """Held by one writer of one SQLite database at a time, across threads and processes.

    `database_path` None (an in-memory database, or the lock turned off) queues threads only.
    Re-entrant within a thread, as the thread lock it replaces was.
    """

    def __init__(self, database_path: str | None) -> None:
        self.path = lock_path(database_path) if database_path else None
        self._forget()
        _LIVE.add(self)

    def _forget(self) -> None:
        """A fresh, unheld lock: at start, and in a forked child, which holds nothing of its
        parent's (its copy of the thread lock may be held by a thread that is not there)."""
        self._threads = threading.RLock()
        self._depth = 0  # how many times the holding thread has entered; guarded by _threads
        self._descriptor: int | None = None
        self._opened_by: int | None = None  # the pid that opened _descriptor

    @property
    def across_processes(self) -> bool:
        return self.path is not None

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._threads:
            self._depth += 1
            try:
                if self._depth == 1:
                    self._take_file_lock()
                try:
                    yield
                finally:
                    if self._depth == 1:
                        self._release_file_lock()
            finally:
                self._depth -= 1

    def close(self) -> None:
        with self._threads:
            if self._descriptor is not None and self._opened_by == os.getpid():
                os.close(self._descriptor)
            self._descriptor = self._opened_by = None

    def _take_file_lock(self) -> None:
        descriptor = self._file()
        if descriptor is not None:
            fcntl.flock(descriptor, fcntl.LOCK_EX)  # blocks in the kernel; EINTR is retried

    def _release_file_lock(self) -> None:
        if self._descriptor is not None:
            fcntl.flock(self._descriptor, fcntl.LOCK_UN)

    def _file(self) -> int | None:
        """The lock file, opened by this process.

        A forked child must not use its parent's descriptor: both would share one open file,
        so each would believe it held the lock the other holds, and either could release it
        (the pid check is there for a child that forked without os.fork's hooks).
        """
        if self.path is None:
            return None
        if self._descriptor is None or self._opened_by != os.getpid():
            # Read-only is enough for flock, so any user who may open the database may queue.
            # Not inherited by programs this process starts (os.open's default since 3.4).
            self._descriptor = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
            self._opened_by = os.getpid()
        return self._descriptor


# Every WriteLock of this process, so that a forked child starts with all of them unheld.
_LIVE: weakref.WeakSet[WriteLock] = weakref.WeakSet()


def _forget_all_in_child() -> None:
    for lock in list(_LIVE):
        inherited = lock._descriptor
        lock._forget()
        if inherited is not None:
            # Safe: a flock goes only when the parent's descriptor closes too.
            os.close(inherited)


os.register_at_fork(after_in_child=_forget_all_in_child)
